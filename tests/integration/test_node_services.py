"""test_node_services.py -- what a running gridnode serves besides JSON-RPC, on a real
4-validator testnet (either engine) made with --mqtt and the accelerated demo clock:

  - GET /events (server-sent events) on a node streams "block" events with increasing
    heights, and a real mosquitto broker (started here on a free loopback port) gets
    them on "<topic>/block" from every node (mosquitto_sub);
  - block times run clock_accel times wall time (block time = start + (now - start) * A);
  - a registration, a tariff, an order and an operator's ClearMarket, each sent as a user
    would (gridctl participant register, tariff post, order place, market close) give a
    "clearing" SSE event with the committed result, and once block time passes the slot's
    metering window, a "settlement" event;
  - GET /metrics passes `promtool check metrics` and its committed-transaction counter
    rises after a gridctl transfer;
  - gridctl recharge against node0's shadow-centre API mints once; the same bank_ref
    again mints nothing (balance verified as a light client);
  - node0 refuses to start with a shadow_key_file others can read, naming the field."""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nodenet  # noqa: E402

DAY_MS = 86400000
HOUR_MS = 3600000
SLOT_MS = 900000                 # market default slot
METERING_WINDOW_MS = HOUR_MS     # market default: readings until slot end + 1 h
ACCEL = 3600                     # one wall second is one hour of block time
RETAIL, FEED_IN = 250000, 50000  # micro-units per kWh


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Broker:
    """A mosquitto broker on a free loopback port, and a subscriber writing to a file."""

    def __init__(self, tmp):
        self.port = free_port()
        conf = os.path.join(tmp, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n" % self.port)
        self.log = open(os.path.join(tmp, "mosquitto.log"), "w")
        mosq = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([mosq, "-c", conf], stdout=self.log, stderr=self.log)
        self.sub = None
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("mosquitto did not listen on 127.0.0.1:%d (is Debian's mosquitto "
                             "installed? scripts/deps.sh)" % self.port)

    def subscribe(self, topic, path):
        self.sub_path = path
        self.sub_out = open(path, "w")
        self.sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.port),
                                     "-t", topic, "-v"], stdout=self.sub_out, stderr=subprocess.STDOUT)

    def received(self):
        with open(self.sub_path) as f:
            return f.read().splitlines()

    def close(self):
        for p in (self.sub, self.proc):
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()


class Events:
    """GET /events on one node, collected in a thread: (type, data, wall ms received)."""

    def __init__(self, port):
        self.events, self.lock, self.error = [], threading.Lock(), None
        self.resp = urllib.request.urlopen("http://127.0.0.1:%d/events" % port, timeout=30)
        ctype = self.resp.headers.get("Content-Type", "")
        assert ctype.startswith("text/event-stream"), ctype
        self.th = threading.Thread(target=self.run, daemon=True)
        self.th.start()

    def run(self):
        etype = None
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    return
                line = line.decode().rstrip("\n")
                if line.startswith("event: "):
                    etype = line[7:]
                elif line.startswith("data: ") and etype:
                    with self.lock:
                        self.events.append((etype, json.loads(line[6:]), int(time.time() * 1000)))
                    etype = None
        except Exception as e:  # the stream closes when the node stops
            self.error = e

    def of(self, etype):
        with self.lock:
            return [(d, w) for t, d, w in self.events if t == etype]

    def wait(self, etype, pred, timeout, what):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for d, w in self.of(etype):
                if pred(d):
                    return d, w
            time.sleep(0.1)
        raise AssertionError("no %s event %s within %d s; got %d events of that type: %s" %
                             (etype, what, timeout, len(self.of(etype)), self.of(etype)[-3:]))


def run(*args, expect=0, timeout=60):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if r.returncode != expect:
        raise AssertionError("%s: exit %d, expected %d\nstdout: %s\nstderr: %s" %
                             (" ".join(args), r.returncode, expect, r.stdout, r.stderr))
    return r.stdout


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        return r.read().decode()


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return int(line.split()[1])
    raise AssertionError("no %s in /metrics:\n%s" % (name, text[:2000]))


def wait_tx(net, h, node=0, timeout=20):
    """(height, result_name) of transaction h once committed."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = net.call(node, "get_tx", {"hash": h})
        if "result" in r:
            return r["result"]["height"], r["result"]["result_name"]
        time.sleep(0.05)
    raise AssertionError("transaction %s not committed in %d s" % (h, timeout))


def body(net, a, broker, clock):
    chain_id = "gridledger-testnet"
    gen = os.path.join(net.dir, "genesis.json")
    for i in range(4):
        net.start(i)
    for i in range(4):
        net.wait_height(i, 1)
    st = net.status(1)
    assert st["clock_accel"] == ACCEL and st["clock_start_ms"] == clock["start"], st
    ev = Events(net.rpc_port(1))  # a node that need not be the proposer
    topic = "gridledger/%s" % chain_id
    broker.subscribe(topic + "/#", os.path.join(net.dir, "mqtt.out"))
    rpc = lambda i: "http://127.0.0.1:%d" % net.rpc_port(i)  # noqa: E731
    ctl = lambda *args: run(a.gridctl, *args, "--genesis", gen, "--rpc", rpc(0))  # noqa: E731

    # ---- the market, first: its day-ahead gate is about 12 wall seconds away ----
    slot = clock["day"] + DAY_MS  # the first slot of the next UTC day: gate at day + 12 h
    op_key, sh_key = os.path.join(net.dir, "operator.key"), os.path.join(net.dir, "shadow.key")
    alice_key = os.path.join(net.dir, "alice.key")
    alice = run(a.gridctl, "keygen", "--out", alice_key).strip()
    t_setup = time.time()
    # the shadow centre posts the slot's tariff while the operator funds alice and registers her
    tariff = subprocess.Popen([a.gridctl, "tariff", "post", "--key", sh_key, "--slot-start-ms", str(slot),
                               "--retail", str(RETAIL), "--feed-in", str(FEED_IN), "--genesis", gen,
                               "--rpc", rpc(0), "--wait"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    ctl("transfer", "--key", op_key, "--to", alice, "--amount", "10000000", "--wait")
    ctl("participant", "register", "--key", op_key, "--account", alice, "--kind", "prosumer", "--wait")
    t_out, t_err = tariff.communicate(timeout=60)
    assert tariff.returncode == 0 and ": OK" in t_out, (tariff.returncode, t_out, t_err)
    # alice buys 1 kWh up to 0.3 token/kWh; no seller: the grid sells at its retail price
    ctl("order", "place", "--key", alice_key, "--side", "buy", "--slot-start-ms", str(slot), "--qty-wh", "1000",
        "--price", "300000", "--wait")
    try:
        out = ctl("market", "close", "--key", op_key, "--slot-start-ms", str(slot), "--wait", "--json")
    except AssertionError as e:
        raise AssertionError("market close: %s\n(the gate may have passed: block time is %d, the gate %d)" %
                             (e, net.status(0)["time_ms"], clock["day"] + 12 * HOUR_MS))
    h_clear, committed, result = out.split("\n", 2)
    h_clear_height = int(committed.split()[3].rstrip(","))
    res = json.loads(result)
    assert res["cleared"] and res["result"]["by_operator"] and res["verified"], res
    assert res["result"]["cleared_height"] == h_clear_height, (res, committed)
    print("market set up and closed by gridctl in %.1f s (wall), at height %d" %
          (time.time() - t_setup, h_clear_height))
    clr, _ = ev.wait("clearing", lambda d: d["slot_start_ms"] == slot, 10, "for the slot")
    assert clr["height"] == h_clear_height, (clr, h_clear_height)
    assert (clr["commodity"], clr["market"]) == (1, 1), clr
    assert clr["by_operator"] is True and clr["price"] == RETAIL and clr["volume_wh"] == 1000, clr
    assert clr["grid_sell_wh"] == 1000 and clr["norders"] == 1, clr
    # the event tells of committed state: the proven result at that height is the same
    r = net.call(1, "get_results", {"commodity": "electricity", "market": "day_ahead",
                                    "slot_start_ms": slot, "height": clr["height"]})["result"]
    assert r["decoded"]["price"] == RETAIL and r["key"] == clr["key"], (r, clr)
    print("clearing event:", json.dumps(clr))

    # ---- SSE blocks: increasing heights; block times at ACCEL x wall time ----
    blocks = ev.of("block")
    hts = [d["height"] for d, _ in blocks]
    assert len(hts) >= 3 and hts == sorted(hts) and len(set(hts)) == len(hts), hts
    time.sleep(3)
    blocks = ev.of("block")
    (d1, w1), (d2, w2) = blocks[0], blocks[-1]
    rate = (d2["time_ms"] - d1["time_ms"]) / max(1, w2 - w1)
    assert 0.7 * ACCEL < rate < 1.3 * ACCEL, "block time ran %.0f x wall time, not ~%d" % (rate, ACCEL)
    for d, w in blocks:  # each stamped by node_clock_ms at most a few wall seconds before
        want = clock["start"] + (w - clock["start"]) * ACCEL
        assert want - 4000 * ACCEL <= d["time_ms"] <= want + 100 * ACCEL, (d, w, want)
    print("block times ran %.0f x wall time over %d blocks" % (rate, len(blocks)))

    # ---- /metrics through promtool; committed transactions rise after a transfer ----
    text = metrics(net.rpc_port(0))
    path = os.path.join(net.dir, "metrics.txt")
    with open(path, "w") as f:
        f.write(text)
    with open(path) as f:
        r = subprocess.run(["promtool", "check", "metrics"], stdin=f, capture_output=True, text=True)
    assert r.returncode == 0, "promtool check metrics: %s %s" % (r.stdout, r.stderr)
    before = metric(text, "gridledger_txs_committed_total")
    assert metric(text, "gridledger_peers_up") == 3, text
    assert metric(text, "gridledger_height") >= h_clear_height
    bob = run(a.gridctl, "keygen", "--out", os.path.join(net.dir, "bob.key")).strip()
    out = run(a.gridctl, "transfer", "--key", op_key, "--to", bob, "--amount", "1000",
              "--genesis", gen, "--rpc", rpc(0), "--wait")
    assert "OK" in out, out
    after = metric(metrics(net.rpc_port(0)), "gridledger_txs_committed_total")
    assert after > before, (before, after)
    print("metrics: promtool ok, txs committed %d -> %d" % (before, after))

    # ---- the shadow-centre API: recharge mints once per bank_ref ----
    shadow = "http://127.0.0.1:%d" % (net.base + 200)

    def balance():
        out = run(a.gridctl, "balance", "--account", bob, "--genesis", gen, "--rpc", rpc(2), "--json")
        j = json.loads(out)
        assert j["verified"] is True, j
        return j["balance"], j["height"]

    b0, _ = balance()
    rc1 = json.loads(run(a.gridctl, "recharge", "--account", bob, "--amount", "7000000",
                         "--bank-ref", "ITEST-BANK-0001", "--shadow-key", sh_key,
                         "--shadow-rpc", shadow, "--rpc", rpc(0)))
    assert rc1["repeat"] is False and rc1["amount"] == 7000000, rc1
    wait_tx(net, rc1["hash"])
    deadline = time.time() + 20
    while balance()[0] != b0 + 7000000 and time.time() < deadline:
        time.sleep(0.2)
    assert balance()[0] == b0 + 7000000
    rc2 = json.loads(run(a.gridctl, "recharge", "--account", bob, "--amount", "7000000",
                         "--bank-ref", "ITEST-BANK-0001", "--shadow-key", sh_key,
                         "--shadow-rpc", shadow, "--rpc", rpc(0)))
    assert rc2["repeat"] is True and rc2["hash"] == rc1["hash"], rc2
    assert rc2["status"] == "committed", rc2
    h = net.status(2)["height"]
    net.wait_height(2, h + 2)  # blocks after the repeat: still minted once
    b2, hb = balance()
    assert b2 == b0 + 7000000 and hb > h, (b0, b2)
    print("recharge: minted once (%d -> %d), the repeat minted nothing" % (b0, b2))

    # ---- MQTT: every node's block events on <topic>/block ----
    deadline = time.time() + 15
    while time.time() < deadline:
        got = [ln for ln in broker.received() if ln.startswith(topic + "/block {")]
        if len({json.loads(ln.split(" ", 1)[1])["height"] for ln in got}) >= 3:
            break
        time.sleep(0.2)
    mq = [json.loads(ln.split(" ", 1)[1]) for ln in got]
    mh = sorted({d["height"] for d in mq})
    assert len(mh) >= 3, "mosquitto_sub got %s" % broker.received()[-5:]
    # one node's stream is in height order (4 nodes publish: each block arrives up to 4 times)
    sse_hashes = {d["height"]: d["hash"] for d, _ in ev.of("block")}
    assert all(sse_hashes.get(d["height"], d["hash"]) == d["hash"] for d in mq)
    mc = [json.loads(ln.split(" ", 1)[1]) for ln in broker.received()
          if ln.startswith(topic + "/clearing {")]
    assert any(d["slot_start_ms"] == slot and d["height"] == clr["height"] for d in mc), mc
    print("mqtt: %d block events, heights %d..%d, and the clearing" % (len(mq), mh[0], mh[-1]))

    # ---- settlement: once block time passes the slot's end + metering window ----
    due = slot + SLOT_MS + METERING_WINDOW_MS
    wait_s = max(5, (due - net.status(1)["time_ms"]) / ACCEL + 15)
    stl, _ = ev.wait("settlement", lambda d: d["slot_start_ms"] == slot, wait_s, "for the slot")
    assert stl["height"] > clr["height"] and stl["has_tariff"] is True, stl
    r = net.call(1, "get_state", {"key": stl["key"], "height": stl["height"]})["result"]
    assert r["value"], r
    print("settlement event:", json.dumps(stl))
    # every clearing event is for a committed block on every node: none twice, none unknown
    clears = [d for d, _ in ev.of("clearing")]
    assert len(clears) == len({(d["commodity"], d["market"], d["slot_start_ms"]) for d in clears})

    # ---- a shadow-centre key others can read is refused, naming the field ----
    net.kill(0, signal.SIGTERM)
    os.chmod(sh_key, 0o644)
    try:
        r = subprocess.run([net.gridnode, "--config", os.path.join(net.dir, "node0", "config.json")],
                           capture_output=True, text=True, timeout=30)
    finally:
        os.chmod(sh_key, 0o600)
    assert r.returncode != 0 and "shadow_key_file" in r.stderr and "readable by others" in r.stderr, \
        (r.returncode, r.stderr[-1500:])
    print("refused:", [ln for ln in r.stderr.splitlines() if "shadow_key_file" in ln][0])
    net.start(0)
    net.wait_height(0, net.status(1)["height"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", required=True, choices=["raft", "pbft"])
    ap.add_argument("--gridnode", required=True)
    ap.add_argument("--load", required=True)
    ap.add_argument("--gridctl", required=True)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="gl-svc-")
    broker = Broker(tmp)
    # The demo clock: block time at the nodes' start (w0) is 1 minute past a UTC
    # midnight at least an hour ahead of the wall clock, so the next day's first
    # slot is ~12 h (12 wall seconds) before its day-ahead gate.
    w0 = int(time.time() * 1000) + 3000
    day = (w0 + HOUR_MS + DAY_MS - 1) // DAY_MS * DAY_MS
    t0 = day + 60000
    start = (w0 * ACCEL - t0) // (ACCEL - 1)
    clock = {"start": start, "day": day}
    net = None
    t_begin = time.time()
    try:
        net = nodenet.Net(a.gridnode, a.load, a.engine, validators=4, load_accounts=1, observers=0,
                          testnet_args=["--mqtt", "127.0.0.1:%d" % broker.port,
                                        "--clock-accel", str(ACCEL), "--clock-start-ms", str(start),
                                        "--genesis-time-ms", str(start)])
        net.gridctl = a.gridctl
        body(net, a, broker, clock)
        net.stop_all_cleanly()
    except BaseException:
        if net:
            for i in net.running():
                print("node%d status: %s" % (i, json.dumps({k: v for k, v in (net.status(i) or {}).items()
                                                            if k != "validators"})))
            for i in range(net.n):
                try:
                    print("---- node%d log tail ----\n%s" % (i, net.log(i)[-1500:]))
                except OSError:
                    pass
        raise
    finally:
        if net:
            net.close()
        broker.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print("ok (%.1f s)" % (time.time() - t_begin))


if __name__ == "__main__":
    main()
