"""test_gridctl.py -- gridctl against a real 4-validator gridnode testnet (either engine).

keygen writes a 0600 key; transfer signs here, submits and waits for the commit;
balance verifies the certified header and the account proof against the genesis
validators, through any validator; it refuses (exit 3) a genesis with another
validator set, and an answer tampered with by a proxy between gridctl and the
node, while --no-verify believes the same proxy and says UNVERIFIED."""
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


class TamperProxy(http.server.BaseHTTPRequestHandler):
    """Forwards POST / to the node; in get_account results adds 1 token to the
    balance and flips a bit of the value (a lying node)."""
    upstream = None

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        req = urllib.request.Request(self.upstream, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            out = json.load(r)
        method = json.loads(body).get("method")
        res = out.get("result") if isinstance(out, dict) else None
        if method == "get_account" and res and res.get("value"):
            res["balance"] += 1000000
            v = bytearray.fromhex(res["value"])
            v[-1] ^= 1
            res["value"] = v.hex()
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

    # a lying node (a proxy rewriting get_account) is refused; --no-verify believes it
    TamperProxy.upstream = rpc(0) + "/"
    srv = http.server.HTTPServer(("127.0.0.1", 0), TamperProxy)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        proxy = "http://127.0.0.1:%d" % srv.server_address[1]
        _, err = run(gridctl, "balance", "--key", key, "--genesis", gen, "--rpc", proxy, expect=3)
        assert "REFUSED" in err and "PROOF_INVALID" in err, err
        out, _ = run(gridctl, "balance", "--key", key, "--rpc", proxy, "--no-verify")
        assert "UNVERIFIED" in out and "(3500000 micro-units)" in out, out
    finally:
        srv.shutdown()
        srv.server_close()


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
