"""test_node_crash.py -- crash recovery (either engine): kill -9 every validator at
once, several times, at random moments while transfers flow; each restart comes
back from its own disk, the network goes on, all nodes reach the same state root,
and every transaction a node reported committed before a crash is still committed
(get_tx) on every node afterwards."""
import random
import signal
import subprocess
import threading
import time

import nodenet


def committed_hashes(net, i, upto):
    """Hashes of the transactions in blocks 1..upto as node i reports them."""
    out = []
    for h in range(max(1, upto - 20), upto + 1):
        r = net.call(i, "get_block", {"height": h}).get("result")
        out += [t["hash"] for t in r["txs"]]
    return out


def body(net, engine):
    rng = random.Random(int(time.time()))
    for i in range(4):
        net.start(i)
    net.send_load(200)
    seen = []
    for round_ in range(3):
        rpcs = ",".join("127.0.0.1:%d" % net.rpc_port(i) for i in range(4))
        load = subprocess.Popen([net.load, "--rpc", rpcs, "--accounts", str(net.accounts), "--txs", "3000",
                                 "--batch", "100", "--rate", "1500", "--timeout", "5"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3 + rng.random() * 1.2)
        top = max(net.status(i)["height"] for i in range(4))
        seen += committed_hashes(net, 0, net.status(0)["height"])
        for i in range(4):  # all at once, mid-flight
            net.kill(i, signal.SIGKILL)
        load.kill()
        load.wait()
        print("round", round_, ": killed all 4 at height", top, "with", len(seen), "committed txs seen")
        for i in range(4):
            net.start(i)
        net.send_load(100)
        for i in range(4):  # nobody lost a block it had: all get past the height seen before
            net.wait_height(i, top)
    net.same_state([0, 1, 2, 3])
    lost = 0
    for i in range(4):
        for h in seen:
            r = net.call(i, "get_tx", {"hash": h})
            if "result" not in r:
                lost += 1
    assert lost == 0, "%d committed transactions lost" % lost
    print("all", len(seen), "transactions committed before the crashes are still committed on every node")


if __name__ == "__main__":
    nodenet.main(body)
