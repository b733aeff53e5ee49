"""nodenet.py -- a local gridnode network for the integration tests.

Starts real gridnode processes on free loopback ports in a temporary
directory, talks JSON-RPC to them, and always cleans up (processes and the
directory) when the test ends, also on failure."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_base_port(span=210):
    """A base port P such that P..P+9, P+100..P+109 and P+200..P+209 (p2p,
    RPC, node0's shadow-centre API) are free on 127.0.0.1, below the kernel's
    ephemeral range (so that no outgoing connection can take one of them
    between this check and the node's listen)."""
    import random
    lo_eph = 32768
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo_eph = int(f.read().split()[0])
    except OSError:
        pass
    rng = random.Random(os.getpid() ^ int(time.time() * 1000))
    for _ in range(200):
        p = rng.randrange(10000, max(10001, lo_eph - span - 1))
        ok = True
        for q in list(range(p, p + 10)) + list(range(p + 100, p + 110)) + list(range(p + 200, p + 210)):
            t = socket.socket()
            try:
                t.bind(("127.0.0.1", q))
            except OSError:
                ok = False
            t.close()
            if not ok:
                break
        if ok:
            return p
    raise RuntimeError("no free loopback port range")


class Net:
    def __init__(self, gridnode, load, engine, validators=4, load_accounts=20, observers=1,
                 testnet_args=()):
        self.gridnode, self.load, self.engine = gridnode, load, engine
        self.dir = tempfile.mkdtemp(prefix="gl-itest-")
        self.base = free_base_port()
        self.n = validators
        self.accounts = load_accounts
        self.procs = {}
        subprocess.run([gridnode, "testnet", "--validators", str(validators), "--dir", self.dir,
                        "--engine", engine, "--base-port", str(self.base),
                        "--load-accounts", str(load_accounts), "--observers", str(observers)]
                       + list(testnet_args), check=True, stdout=subprocess.DEVNULL)

    def rpc_port(self, i):
        return self.base + 100 + i

    def start(self, i, extra=()):
        log = open(os.path.join(self.dir, "node%d.log" % i), "a")
        self.procs[i] = subprocess.Popen([self.gridnode, "--config",
                                          os.path.join(self.dir, "node%d" % i, "config.json")] + list(extra),
                                         stdout=log, stderr=log)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.procs[i].poll() is not None:
                raise RuntimeError("node %d exited at start: %s" % (i, self.log(i)[-2000:]))
            if self.status(i):
                return
            time.sleep(0.05)
        raise RuntimeError("node %d has no RPC after 10 s" % i)

    def kill(self, i, sig=signal.SIGKILL):
        p = self.procs.pop(i, None)
        if p:
            p.send_signal(sig)
            p.wait(10)

    def log(self, i):
        with open(os.path.join(self.dir, "node%d.log" % i)) as f:
            return f.read()

    def call(self, i, method, params=None, timeout=2):
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}).encode()
        req = urllib.request.Request("http://127.0.0.1:%d/" % self.rpc_port(i), data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.load(r)

    def status(self, i):
        try:
            return self.call(i, "status").get("result")
        except Exception:
            return None

    def header(self, i, h):
        try:
            return self.call(i, "get_header", {"height": h}).get("result")
        except Exception:
            return None

    def running(self):
        return sorted(self.procs)

    def leader(self):
        for i in self.running():
            st = self.status(i)
            if st and st.get("leader", -1) >= 0:
                return st["leader"]
        return None

    def send_load(self, txs, nodes=None, timeout=40):
        nodes = self.running() if nodes is None else nodes
        rpcs = ",".join("127.0.0.1:%d" % self.rpc_port(i) for i in nodes)
        r = subprocess.run([self.load, "--rpc", rpcs, "--accounts", str(self.accounts), "--txs", str(txs),
                            "--batch", "200", "--timeout", str(timeout)], capture_output=True, text=True)
        sys.stdout.write(r.stdout)
        if r.returncode != 0:
            raise AssertionError("load did not commit every transfer: %s %s" % (r.stdout, r.stderr[-1500:]))
        return r.stdout

    def wait_height(self, i, h, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            st = self.status(i)
            if st and st["height"] >= h:
                return st["height"]
            time.sleep(0.1)
        raise AssertionError("node %d did not reach height %d in %d s (at %s)" %
                             (i, h, timeout, (self.status(i) or {}).get("height")))

    def same_state(self, nodes, timeout=30):
        """Every node in nodes reaches a common height whose header (state root included) is the same."""
        top = max(self.status(i)["height"] for i in nodes)
        for i in nodes:
            self.wait_height(i, top, timeout)
        hs = [self.header(i, top) for i in nodes]
        roots = set(h["header"] for h in hs)
        if len(roots) != 1:
            raise AssertionError("nodes %s differ at height %d" % (nodes, top))
        return top

    def stop_all_cleanly(self):
        """SIGTERM every running node: each must exit 0 (under ASan: no leak, no error)."""
        bad = []
        for i in list(self.procs):
            p = self.procs.pop(i)
            p.send_signal(signal.SIGTERM)
            try:
                rc = p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                rc = "timeout"
            if rc != 0 or "Sanitizer" in self.log(i):
                bad.append((i, rc))
        if bad:
            raise AssertionError("nodes did not stop cleanly: %s" % bad)

    def light_client_check(self, i, account_hex):
        """gridctl balance, verified as a light client against genesis (header, certificate, proof)."""
        r = subprocess.run([self.gridctl, "balance", "--account", account_hex, "--genesis",
                            os.path.join(self.dir, "genesis.json"), "--rpc",
                            "http://127.0.0.1:%d" % self.rpc_port(i)], capture_output=True, text=True)
        if r.returncode != 0 or "verified at height" not in r.stdout:
            raise AssertionError("light client check on node %d failed: %s %s" % (i, r.stdout, r.stderr))
        return r.stdout

    def close(self):
        for i in list(self.procs):
            self.kill(i, signal.SIGKILL)
        if os.environ.get("GL_KEEP_TEST_DIR"):
            print("kept", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def main(body):
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", required=True, choices=["raft", "pbft"])
    ap.add_argument("--gridnode", required=True)
    ap.add_argument("--load", required=True)
    ap.add_argument("--gridctl")
    a = ap.parse_args()
    net = Net(a.gridnode, a.load, a.engine)
    net.gridctl = a.gridctl
    t0 = time.time()
    try:
        body(net, a.engine)
        net.stop_all_cleanly()
    except BaseException:
        for i in net.running():
            print("node%d status: %s" % (i, json.dumps({k: v for k, v in (net.status(i) or {}).items()
                                                        if k not in ("validators",)})))
        for i in range(net.n + 1):
            try:
                print("---- node%d log tail ----\n%s" % (i, net.log(i)[-1500:]))
            except OSError:
                pass
        raise
    finally:
        net.close()
    print("ok (%.1f s)" % (time.time() - t0))
