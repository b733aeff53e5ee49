#!/usr/bin/env python3
"""demo_day.py -- one accelerated trading day of a co-housing microgrid on a
real local network (issue 6, point 6; `make demo` runs it, and so does the
end-to-end test integration/e2e_day_*).

Starts, on free loopback ports in a temporary directory:
  - 4 validators (`gridnode testnet`, Raft or PBFT); node0 is the shadow
    centre (its signed API mints recharges) and every node runs an
    accelerated clock (block time = start + (now - start) * accel);
  - 20 households, each a simulated SDM630 meter (`gridmeter-sim`, seeded
    load and 6 kWp PV on three roofs in five) read by its own `gridmeter`,
    which signs one reading per 5-minute slot and keeps it until a node has
    committed it;
then runs `gridledger-day setup`, `trade` and `report` (node/demo_day.c):
recharges, registrations, tariffs, day-ahead and intraday orders, and at the
end prices, volumes, bills and the checks, every value verified as a light
client.  Exit status 0 only when every check passed.  Everything is stopped
and removed at the end, also on failure (--keep keeps the directory)."""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from nodenet import free_base_port  # noqa: E402

DAY_MS = 86400000


def rpc(port, method, params=None, timeout=5):
    body = {"jsonrpc": "2.0", "id": 1, "method": method}
    if params is not None:
        body["params"] = params
    req = urllib.request.Request("http://127.0.0.1:%d/" % port, json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        out = json.loads(r.read())
    if "error" in out:
        raise RuntimeError("%s: %s" % (method, out["error"]["message"]))
    return out["result"]


class Demo:
    def __init__(self, a):
        self.a = a
        self.dir = tempfile.mkdtemp(prefix="gl-day-")
        self.procs = []
        self.logs = []

    def spawn(self, name, argv, **kw):
        log = open(os.path.join(self.dir, name + ".log"), "wb")
        self.logs.append(log)
        p = subprocess.Popen(argv, stdout=kw.pop("stdout", log), stderr=log, **kw)
        self.procs.append((name, p))
        return p

    def stop(self):
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.time() + 10
        for name, p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in self.logs:
            log.close()

    def tail_logs(self):
        for f in sorted(os.listdir(self.dir)):
            if f.endswith(".log"):
                with open(os.path.join(self.dir, f), "rb") as fh:
                    lines = fh.read().decode(errors="replace").splitlines()[-8:]
                print("---- %s (last lines)" % f, file=sys.stderr)
                for line in lines:
                    print("  " + line, file=sys.stderr)

    def run(self):
        a = self.a
        base = free_base_port(span=210)
        net = os.path.join(self.dir, "net")
        accel = a.accel
        w0 = int(time.time() * 1000) + 2000
        # The chain's clock at w0: six hours before the trading day (a UTC
        # midnight at least seven hours ahead of the wall clock, since the
        # accelerated clock never runs behind it).
        day = (w0 + 7 * 3600000 + DAY_MS - 1) // DAY_MS * DAY_MS
        t0 = day - 6 * 3600000
        start = (w0 * accel - t0) // (accel - 1)
        subprocess.run([a.gridnode, "testnet", "--validators", "4", "--dir", net, "--engine",
                        a.engine, "--base-port", str(base), "--chain-id", "energy-collective",
                        "--clock-accel", str(accel), "--clock-start-ms", str(start),
                        "--genesis-time-ms", str(t0 - 3600000)],
                       check=True, stdout=subprocess.DEVNULL)
        print("network: 4 validators (%s) on 127.0.0.1:%d-%d, RPC %d-%d, shadow-centre API %d; "
              "clock %dx (a 5-minute slot every %.1f s)" % (a.engine, base, base + 3, base + 100,
                                                           base + 103, base + 200, accel,
                                                           300.0 / accel), flush=True)
        for i in range(4):
            self.spawn("node%d" % i, [a.gridnode, "--config",
                                      os.path.join(net, "node%d" % i, "config.json")])
        rpc_port = base + 100
        for _ in range(200):
            try:
                if rpc(rpc_port, "status")["height"] >= 1:
                    break
            except Exception:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError("the network did not produce a block within 20 s")
        drv = [a.day, "--dir", net, "--rpc", "http://127.0.0.1:%d" % rpc_port, "--shadow-rpc",
               "http://127.0.0.1:%d" % (base + 200), "--day-ms", str(day), "--households",
               str(a.households), "--mechanism", a.mechanism]
        subprocess.run([drv[0], "setup"] + drv[1:], check=True)
        self.start_meters(net, base, day, accel, start)
        subprocess.run([drv[0], "trade"] + drv[1:], check=True)
        rc = subprocess.run([drv[0], "report"] + drv[1:]).returncode
        if a.gridctl:
            hh = json.load(open(os.path.join(net, "households.json")))[0]
            day_s = time.strftime("%Y-%m-%d", time.gmtime(day // 1000))
            print("\n$ gridctl bill --day %s --account %s... --genesis genesis.json" %
                  (day_s, hh["account"][:16]), flush=True)
            r = subprocess.run([a.gridctl, "bill", "--day", day_s, "--account", hh["account"],
                                "--genesis", os.path.join(net, "genesis.json"), "--rpc",
                                "http://127.0.0.1:%d" % (base + 101)])
            if r.returncode != 0:
                print("gridctl bill failed with exit %d" % r.returncode)
                rc = rc or 1
        self.check_meters()
        return rc

    def start_meters(self, net, base, day, accel, start):
        hhs = json.load(open(os.path.join(net, "households.json")))
        chain_id = "energy-collective"
        help_text = subprocess.run([self.a.gridmeter, "--help"], capture_output=True,
                                   text=True).stdout
        self.meters = []
        for i, hh in enumerate(hhs):
            sim = self.spawn("sim-%s" % hh["name"],
                             [self.a.sim, "--port", "0", "--seed", str(hh["seed"]), "--accel",
                              str(accel), "--start-ms", str(start), "--pv-peak-w",
                              str(hh["pv_peak_w"]), "--load-w", str(hh["load_w"])],
                             stdout=subprocess.PIPE)
            line = sim.stdout.readline().decode().split()
            if len(line) != 2 or line[0] != "port":
                raise RuntimeError("gridmeter-sim did not print its port")
            port = int(line[1])
            qdir = os.path.join(self.dir, "queue-%s" % hh["name"])
            os.makedirs(qdir)
            conf = os.path.join(self.dir, "gridmeter-%s.conf" % hh["name"])
            poll = max(1000, accel * 100)  # chain ms: ~10 polls a second of wall time
            lines = ["chain_id = %s" % chain_id,
                     "key_file = %s" % hh["meter_key_file"],
                     "queue_dir = %s" % qdir,
                     "node = http://127.0.0.1:%d" % (base + 100 + i % 4),
                     "map = %s" % os.path.join(HERE, "..", "meterbridge", "maps", "sdm630.conf"),
                     "transport = tcp", "host = 127.0.0.1", "port = %d" % port,
                     "slot_len_s = 300", "slot_epoch_ms = %d" % day,
                     "accel = %d" % accel, "start_ms = %d" % start,
                     "poll_interval_ms = %d" % poll,
                     "boundary_tolerance_ms = %d" % (3 * poll)]
            if "genesis" in help_text:
                lines += ["verify_proof = true",
                          "genesis = %s" % os.path.join(net, "genesis.json")]
            else:
                lines += ["verify_proof = true"]
            with open(conf, "w") as f:
                f.write("\n".join(lines) + "\n")
            self.meters.append(self.spawn("gridmeter-%s" % hh["name"],
                                          [self.a.gridmeter, "-c", conf]))
        print("meters: %d gridmeter-sim + gridmeter pairs polling every %d ms of chain time" %
              (len(hhs), poll), flush=True)

    def check_meters(self):
        dead = [n for n, p in self.procs if p.poll() is not None and n.startswith("gridmeter")]
        if dead:
            print("gridmeter processes that exited early: %s" % ", ".join(dead))


def main():
    build = os.environ.get("GL_BUILD", os.path.join(HERE, "..", "build"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engine", default="raft", choices=["raft", "pbft"])
    ap.add_argument("--accel", type=int, default=600,
                    help="chain seconds per wall second (default 600: the day in 2.4 minutes)")
    ap.add_argument("--households", type=int, default=20)
    ap.add_argument("--mechanism", default="uniform", choices=["uniform", "p2p"])
    ap.add_argument("--build", default=build, help="where the binaries are (default build/)")
    ap.add_argument("--keep", action="store_true", help="keep the directory and its logs")
    a = ap.parse_args()
    for name, exe in (("gridnode", "gridnode"), ("day", "gridledger-day"),
                      ("gridmeter", "gridmeter"), ("sim", "gridmeter-sim"), ("gridctl", "gridctl")):
        setattr(a, name, os.path.join(a.build, exe))
        if not os.access(getattr(a, name), os.X_OK):
            sys.exit("demo_day.py: %s not found in %s: build first (make build)" % (exe, a.build))
    if a.accel < 2 or a.accel > 3000:
        sys.exit("demo_day.py: --accel must be 2 to 3000")
    d = Demo(a)
    rc = 1
    try:
        rc = d.run()
    except (subprocess.CalledProcessError, RuntimeError) as e:
        print("demo_day.py: %s" % e, file=sys.stderr)
        d.stop()
        d.tail_logs()
        rc = 1
    finally:
        d.stop()
        if a.keep or rc:
            print("logs and state kept in %s" % d.dir, file=sys.stderr)
        if not a.keep and rc == 0:
            shutil.rmtree(d.dir, ignore_errors=True)
    sys.exit(rc)


if __name__ == "__main__":
    main()
