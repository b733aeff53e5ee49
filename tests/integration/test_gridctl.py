"""test_gridctl.py -- gridctl against a real 4-validator gridnode testnet (either engine).

keygen writes a 0600 key; transfer signs here, submits and waits for the commit;
balance verifies the certified header and the account proof against the genesis
validators, through any validator; it refuses (exit 3) a genesis with another
validator set, and an answer tampered with by a proxy between gridctl and the
node, while --no-verify believes the same proxy and says UNVERIFIED.

The market as a light client (issue 6, point 5): the operator registers alice
with `participant register`; alice places an order with `order place --wait`,
which prints its id and the verified order; `order show`, `orders` and
`results` (not cleared yet: proven absent) verify through other validators;
`order cancel --wait` releases the lock; `bill` for a day without a settled
slot proves that there is no bill.  Through a proxy that changes the value,
the proof, or the key asked for, `order show`, `bill`, `results` and `orders`
are REFUSED with exit 3 and the reason's name.  Usage errors exit 2.

The operator's and shadow centre's commands: `params set` changes exactly
the one field it is given (`params show --json` before and after differ in
it alone) and sends nothing when it would change nothing; `tariff post
--count 2` posts two consecutive slots, which `tariff show` proves, and the
slot after them proven absent; `market close --wait` clears a book before
its gate with the grid's tariff, and `results --order` through another
validator shows the operator's clearing and the order's fill; `meter
readings` proves the absence of every slot's reading for a meter that sent
none (the readings themselves: tests/integration/meter_node_crash.sh)."""
import argparse
import http.server
import json
import os
import stat
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nodenet  # noqa: E402


def run(gridctl, *args, expect=0):
    r = subprocess.run([gridctl] + list(args), capture_output=True, text=True, timeout=60)
    if r.returncode != expect:
        raise AssertionError("gridctl %s: exit %d, expected %d\nstdout: %s\nstderr: %s" %
                             (" ".join(args), r.returncode, expect, r.stdout, r.stderr))
    return r.stdout, r.stderr


def varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def enc_varint(v):
    out = bytearray()
    while True:
        c = v & 0x7F
        v >>= 7
        out.append(c | (0x80 if v else 0))
        if not v:
            return bytes(out)


def account_plus_one_token(hexval):
    """A gl.Account (varint fields only) with 1 token more in field 1, re-encoded
    canonically: a lie that decodes."""
    b, i, fields = bytes.fromhex(hexval), 0, {}
    while i < len(b):
        tag, i = varint(b, i)
        assert tag & 7 == 0, "gl.Account has varint fields only"
        fields[tag >> 3], i = varint(b, i)
    fields[1] = fields.get(1, 0) + 1000000
    return b"".join(enc_varint(f << 3) + enc_varint(v) for f, v in sorted(fields.items()) if v).hex()


class TamperProxy(http.server.BaseHTTPRequestHandler):
    """Forwards POST / to the node, lying in get_state as `mode` says:
    "value" flips a bit of the value (or makes one up where there is none),
    "proof" flips a bit of the proof, "key" asks the node for another key than
    the client did (the last key byte flipped), "lie" adds a token to an
    account's balance in a value that still decodes."""
    upstream = None
    mode = "value"

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        jreq = json.loads(body)
        method = jreq.get("method")
        params = jreq.get("params") or {}
        if method == "get_state" and self.mode == "key":
            k = bytearray.fromhex(params["key"])
            k[-1] ^= 1
            params["key"] = k.hex()
            body = json.dumps(jreq).encode()
        req = urllib.request.Request(self.upstream, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            out = json.load(r)
        res = out.get("result") if isinstance(out, dict) else None
        if method == "get_state" and res:
            if self.mode == "value":
                if res.get("value"):
                    v = bytearray.fromhex(res["value"])
                    v[-1] ^= 1
                    res["value"] = v.hex()
                else:
                    res["value"] = "0801"
            elif self.mode == "proof":
                p = bytearray.fromhex(res["proof"])
                p[len(p) // 2] ^= 0x10
                res["proof"] = p.hex()
            elif self.mode == "lie" and res.get("value") and res["key"].startswith("612f"):  # "a/"
                res["value"] = account_plus_one_token(res["value"])
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


def body(net, gridctl):
    for i in range(4):
        net.start(i)
    for i in range(4):
        net.wait_height(i, 1)  # a certified block on every node
    gen = os.path.join(net.dir, "genesis.json")
    rpc = lambda i: "http://127.0.0.1:%d" % net.rpc_port(i)  # noqa: E731

    out, _ = run(gridctl, "status", "--rpc", rpc(0))
    st = json.loads(out)
    assert st["engine"] == net.engine and len(st["validators"]) == 4, st

    key = os.path.join(net.dir, "alice.key")
    alice = run(gridctl, "keygen", "--out", key)[0].strip()
    assert len(alice) == 64 and stat.S_IMODE(os.stat(key).st_mode) == 0o600
    run(gridctl, "keygen", "--out", key, expect=1)  # never overwritten

    op = os.path.join(net.dir, "operator.key")
    out, _ = run(gridctl, "transfer", "--key", op, "--to", alice, "--amount", "2500000",
                 "--genesis", gen, "--rpc", rpc(1), "--wait")
    assert "OK" in out, out
    # verified through every validator, each with its own certificate for the head
    for i in range(4):
        out, _ = run(gridctl, "balance", "--key", key, "--genesis", gen, "--rpc", rpc(i))
        assert "(2500000 micro-units)" in out and "verified at height" in out, out
    out, _ = run(gridctl, "balance", "--account", alice, "--genesis", gen, "--rpc", rpc(2), "--json")
    j = json.loads(out)
    assert j["balance"] == 2500000 and j["verified"] is True and j["exists"] is True, j

    # a failing transfer is included, reported, exit 1
    bob = run(gridctl, "keygen", "--out", os.path.join(net.dir, "bob.key"))[0].strip()
    out, err = run(gridctl, "transfer", "--key", key, "--to", bob, "--amount", "99000000",
                   "--genesis", gen, "--rpc", rpc(0), "--wait", expect=1)
    assert "INSUFFICIENT_FUNDS" in out, out

    # a genesis naming another validator set: refused before any signature counts
    g = json.load(open(gen))
    g["validators"][3]["key"] = bob
    bad = os.path.join(net.dir, "other-genesis.json")
    json.dump(g, open(bad, "w"))
    _, err = run(gridctl, "balance", "--key", key, "--genesis", bad, "--rpc", rpc(0), expect=3)
    assert "REFUSED" in err and "VALSET_CHANGED" in err, err

    # ---- the market ----
    # the operator admits alice (a deposit of 0.1 token moves to her locked funds)
    out, _ = run(gridctl, "participant", "register", "--key", op, "--account", alice, "--kind", "prosumer",
                 "--deposit", "100000", "--name", "alice", "--genesis", gen, "--rpc", rpc(1), "--wait")
    assert ": OK" in out and "deposit      0.100000 tokens (100000 micro-units)" in out, out
    assert "verified at height" in out, out
    out, _ = run(gridctl, "participant", "show", "--account", alice, "--genesis", gen, "--rpc", rpc(3),
                 "--json")
    j = json.loads(out)
    assert j["exists"] and j["deposit"] == 100000 and j["verified"], j
    # registering again is refused in its block
    _, err = run(gridctl, "participant", "register", "--key", op, "--account", alice, "--kind", "prosumer",
                 "--genesis", gen, "--rpc", rpc(1), "--wait", expect=1)
    assert "ALREADY_REGISTERED" in err, err

    # alice buys 1 kWh at 0.2 token/kWh for 10:00 UTC the day after tomorrow (day-ahead gate:
    # tomorrow 12:00): 0.2 token locked
    now = int(time.time() * 1000)
    day = now - now % 86400000
    slot = day + 2 * 86400000 + 10 * 3600000
    out, _ = run(gridctl, "order", "place", "--key", key, "--side", "buy", "--slot-start-ms", str(slot),
                 "--qty-wh", "1000", "--price", "200000", "--genesis", gen, "--rpc", rpc(0), "--wait")
    lines = out.splitlines()
    oid = lines[0].strip()
    assert len(oid) == 64 and ": OK" in lines[1], out
    assert "order       " + oid in out and "status      open" in out, out
    assert "locked      0.200000 tokens (200000 micro-units)" in out and "verified at height" in out, out
    # shown, verified, through every other validator
    for i in (1, 2, 3):
        out, _ = run(gridctl, "order", "show", "--order", oid, "--genesis", gen, "--rpc", rpc(i), "--json")
        j = json.loads(out)
        assert (j["status"], j["open_wh"], j["locked"], j["owner"], j["slot_start_ms"], j["verified"]) == \
            ("open", 1000, 200000, alice, slot, True), j
    out, _ = run(gridctl, "orders", "--slot-start-ms", str(slot), "--key", key, "--genesis", gen, "--rpc", rpc(2))
    assert oid in out and "completeness is NOT proven" in out and "verified at height" in out, out
    out, _ = run(gridctl, "results", "--slot-start-ms", str(slot), "--order", oid, "--genesis", gen,
                 "--rpc", rpc(1))
    assert "not cleared yet (proven absent" in out and "no fill of order " + oid in out, out
    j = json.loads(run(gridctl, "balance", "--key", key, "--genesis", gen, "--rpc", rpc(0), "--json")[0])
    assert j["locked"] == 100000 + 200000, j
    bal = j["balance"]
    # an unknown order id is proven absent (exit 1)
    out, _ = run(gridctl, "order", "show", "--order", "ab" * 32, "--genesis", gen, "--rpc", rpc(0), expect=1)
    assert "(proven absent)" in out, out
    # a day without a settled slot has no bill, proven
    today = time.strftime("%Y-%m-%d", time.gmtime(now / 1000))
    out, _ = run(gridctl, "bill", "--day", today, "--key", key, "--genesis", gen, "--rpc", rpc(3))
    assert "no bill: the proof shows none" in out and "verified at height" in out, out
    j = json.loads(run(gridctl, "bill", "--day", str(day), "--account", alice, "--genesis", gen,
                       "--rpc", rpc(3), "--json")[0])
    assert j["exists"] is False and j["day"] == today and j["verified"], j

    # usage errors exit 2
    for args in (["order", "place", "--key", key], ["order", "show", "--order", "zz", "--genesis", gen],
                 ["order", "show", "--order", oid], ["bill", "--day", "2026-02-30", "--key", key, "--genesis", gen],
                 ["bill", "--day", today, "--genesis", gen], ["results", "--genesis", gen],
                 ["order", "place", "--key", key, "--side", "hold", "--slot-start-ms", "1", "--qty-wh", "1",
                  "--price", "1"], ["orders", "--slot-start-ms", str(slot), "--market", "spot", "--genesis", gen],
                 ["order", "frobnicate"]):
        run(gridctl, *args, expect=2)
    for args in (["params", "set", "--key", op, "--slot-ms", "600000", "--genesis", gen],
                 ["params", "set", "--key", op, "--strike-limit", "5"],  # what is signed must be verified
                 ["params", "set", "--key", op, "--genesis", gen],  # no field to change
                 ["params", "set", "--key", op, "--fee-matrix", "0,1;1", "--genesis", gen],
                 ["tariff", "post", "--key", op, "--slot-start-ms", str(slot), "--retail", "1",
                  "--feed-in", "2"], ["tariff", "show", "--slot-start-ms", str(slot), "--count", "0",
                                      "--genesis", gen],
                 ["market", "close", "--key", op], ["params", "frobnicate"],
                 ["meter", "readings", "--meter", bob, "--slots", "5:3", "--genesis", gen],
                 ["meter", "readings", "--meter", bob, "--slots", "1:2", "--slot-start-ms", str(slot),
                  "--genesis", gen]):
        run(gridctl, *args, expect=2)
    for cmd in (["order", "place"], ["order", "cancel"], ["order", "show"], ["orders"], ["results"], ["bill"],
                ["participant", "register"], ["participant", "show"], ["params", "show"], ["params", "set"],
                ["tariff", "post"], ["tariff", "show"], ["market", "close"], ["market", "clear"],
                ["meter", "readings"]):
        out, _ = run(gridctl, *(cmd + ["--help"]))
        assert out.startswith("usage: gridctl " + " ".join(cmd)), out

    # ---- lying nodes: a proxy between gridctl and node 0 ----
    TamperProxy.upstream = rpc(0) + "/"
    srv = http.server.HTTPServer(("127.0.0.1", 0), TamperProxy)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        proxy = "http://127.0.0.1:%d" % srv.server_address[1]
        reads = {"order show": ["order", "show", "--order", oid],
                 "bill": ["bill", "--day", today, "--key", key],
                 "results": ["results", "--slot-start-ms", str(slot)],
                 "orders": ["orders", "--slot-start-ms", str(slot)],
                 "balance": ["balance", "--key", key],
                 "meter readings": ["meter", "readings", "--meter", bob, "--slots", "7:8"]}
        want = {"value": ("PROOF_INVALID",), "proof": ("PROOF_INVALID", "PROOF_MALFORMED"),
                "key": ("KEY_MISMATCH",)}
        for mode, names in want.items():
            TamperProxy.mode = mode
            for what, args in reads.items():
                _, err = run(gridctl, *(args + ["--genesis", gen, "--rpc", proxy]), expect=3)
                assert "REFUSED" in err and any("(%s)" % n in err for n in names), (mode, what, err)
                assert err.split("): ", 1)[1].strip(), (mode, what, err)  # a reason follows the name
        # --no-verify believes a lie that decodes, and says so; it still refuses another key
        TamperProxy.mode = "lie"
        out, _ = run(gridctl, "balance", "--key", key, "--rpc", proxy, "--no-verify")
        assert "UNVERIFIED" in out and "(%d micro-units)" % (bal + 1000000) in out, out
        _, err = run(gridctl, "balance", "--key", key, "--genesis", gen, "--rpc", proxy, expect=3)
        assert "PROOF_INVALID" in err, err
        TamperProxy.mode = "key"
        _, err = run(gridctl, "order", "show", "--order", oid, "--rpc", proxy, "--no-verify", expect=3)
        assert "KEY_MISMATCH" in err, err
        # a transaction's nonce is read the same way: a lying node is refused before anything is signed
        TamperProxy.mode = "value"
        _, err = run(gridctl, "order", "cancel", "--key", key, "--order", oid, "--genesis", gen, "--rpc", proxy,
                     expect=3)
        assert "REFUSED" in err and "PROOF_INVALID" in err, err
    finally:
        srv.shutdown()
        srv.server_close()

    # alice cancels: the order's lock is released (her deposit stays locked)
    out, _ = run(gridctl, "order", "cancel", "--key", key, "--order", oid, "--genesis", gen, "--rpc", rpc(2),
                 "--wait")
    assert ": OK" in out and "status      cancelled" in out and "locked      0.000000 tokens" in out, out
    j = json.loads(run(gridctl, "balance", "--key", key, "--genesis", gen, "--rpc", rpc(1), "--json")[0])
    assert j["locked"] == 100000 and j["balance"] == bal + 200000, j
    _, err = run(gridctl, "order", "cancel", "--key", key, "--order", oid, "--genesis", gen, "--rpc", rpc(2),
                 "--wait", expect=1)
    assert "ORDER_NOT_OPEN" in err, err
    out, _ = run(gridctl, "orders", "--slot-start-ms", str(slot), "--genesis", gen, "--rpc", rpc(3))
    assert oid not in out and "0 open orders shown" in out, out

    # ---- the operator's and the shadow centre's commands ----
    # params set changes the one field it is given, the others as they were
    def params(i):
        j = json.loads(run(gridctl, "params", "show", "--genesis", gen, "--rpc", rpc(i), "--json")[0])
        assert j["verified"] is True, j
        return {k: v for k, v in j.items() if k not in ("height", "block_hash", "state_root", "verified",
                                                         "stored", "defaulted")}
    before = params(2)
    limit = before["strike_limit"] + 2
    out, err = run(gridctl, "params", "set", "--key", op, "--strike-limit", str(limit), "--genesis", gen,
                   "--rpc", rpc(1), "--wait")
    assert ": OK" in out and "market parameters (set on chain)" in out and "verified at height" in out, out
    assert "strike_limit: %d -> %d" % (before["strike_limit"], limit) in err, err
    after = params(3)
    assert {k for k in before if before[k] != after[k]} == {"strike_limit"}, (before, after)
    assert after["strike_limit"] == limit, after
    out, err = run(gridctl, "params", "set", "--key", op, "--strike-limit", str(limit), "--genesis", gen,
                   "--rpc", rpc(1), "--wait")
    assert out == "" and "nothing to change" in err, (out, err)
    _, err = run(gridctl, "params", "set", "--key", key, "--seller-margin", "7", "--genesis", gen,
                 "--rpc", rpc(0), "--wait", expect=1)
    assert "NOT_OPERATOR" in err, err

    # tariff post: two consecutive slots of the market's length, one transaction each
    slot_ms = after["slot_ms"]
    slot2 = slot + slot_ms
    shadow = os.path.join(net.dir, "shadow.key")
    out, _ = run(gridctl, "tariff", "post", "--key", shadow, "--slot-start-ms", str(slot), "--count", "2",
                 "--retail", "250000", "--feed-in", "50000", "--genesis", gen, "--rpc", rpc(2), "--wait")
    assert out.count(": OK") == 2 and "verified at height" in out, out
    j = json.loads(run(gridctl, "tariff", "show", "--slot-start-ms", str(slot), "--count", "3", "--genesis", gen,
                       "--rpc", rpc(3), "--json")[0])
    got = [(t["slot_start_ms"], t["posted"], t.get("retail"), t.get("feed_in")) for t in j["tariffs"]]
    assert got == [(slot, True, 250000, 50000), (slot2, True, 250000, 50000), (slot2 + slot_ms, False, None, None)], j
    assert j["verified"] and j["slot_ms"] == slot_ms, j
    _, err = run(gridctl, "tariff", "post", "--key", shadow, "--slot-start-ms", str(slot + 1), "--retail", "2",
                 "--feed-in", "1", "--genesis", gen, "--rpc", rpc(2), expect=1)
    assert "not a slot start" in err, err

    # market close: the operator clears slot2's book before its gate; the grid sells at retail
    out, _ = run(gridctl, "order", "place", "--key", key, "--side", "buy", "--slot-start-ms", str(slot2),
                 "--qty-wh", "1000", "--price", "300000", "--genesis", gen, "--rpc", rpc(0), "--wait")
    oid2 = out.splitlines()[0].strip()
    out, _ = run(gridctl, "market", "close", "--key", op, "--slot-start-ms", str(slot2), "--genesis", gen,
                 "--rpc", rpc(1), "--wait")
    assert ": OK" in out and "by the operator" in out and "price       0.250000 tokens/kWh" in out, out
    j = json.loads(run(gridctl, "results", "--slot-start-ms", str(slot2), "--order", oid2, "--genesis", gen,
                       "--rpc", rpc(3), "--json")[0])
    r = j["result"]
    assert j["cleared"] and j["verified"] and r["by_operator"] and r["price_micro_per_kwh"] == 250000, j
    assert r["volume_wh"] == 1000 and r["grid_sell_wh"] == 1000 and r["retail"] == 250000, j
    assert j["fill"]["fill_wh"] == 1000 and j["fill"]["paid"] == 250000, j
    _, err = run(gridctl, "market", "close", "--key", op, "--slot-start-ms", str(slot2), "--genesis", gen,
                 "--rpc", rpc(1), "--wait", expect=1)
    assert "BOOK_CLEARED" in err, err

    # meter readings: a meter that sent none has each slot's absence proven, and no account
    j = json.loads(run(gridctl, "meter", "readings", "--meter", bob, "--slots", "3:6", "--genesis", gen,
                       "--rpc", rpc(1), "--json")[0])
    assert (j["readings"], j["evidence"], j["absent"], j["from"], j["to"]) == ([], [], 4, 3, 6), j
    assert j["meter_account_exists"] is False and j["verified"] is True, j
    out, _ = run(gridctl, "meter", "readings", "--meter", bob, "--slot-start-ms", str(slot), "--count", "2",
                 "--genesis", gen, "--rpc", rpc(2))
    first = slot // slot_ms  # the meter epoch is 0 here
    assert "slots %d..%d" % (first, first + 1) in out and out.count("no reading (proven absent)") == 2, out
    assert "verified at height" in out, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", required=True, choices=["raft", "pbft"])
    ap.add_argument("--gridnode", required=True)
    ap.add_argument("--load", required=True)
    ap.add_argument("--gridctl", required=True)
    a = ap.parse_args()
    net = nodenet.Net(a.gridnode, a.load, a.engine, validators=4, load_accounts=1, observers=0)
    t0 = time.time()
    try:
        body(net, a.gridctl)
    except BaseException:
        for i in range(net.n):
            try:
                print("---- node%d log tail ----\n%s" % (i, net.log(i)[-1500:]))
            except OSError:
                pass
        raise
    finally:
        net.close()
    print("ok (%.1f s)" % (time.time() - t0))


if __name__ == "__main__":
    main()
