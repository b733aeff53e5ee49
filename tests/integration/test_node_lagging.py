"""test_node_lagging.py -- a validator that was down for hundreds of blocks
(heartbeat 10 ms, so blocks come fast) comes back: more than PBFT keeps to
answer its own FETCH (256), so the node fetches certified blocks itself,
checks each certificate against genesis, applies them and reopens its engine
past the gap; under Raft the leader repairs its log.  It must reach the same
state root and then take part again (the others stop, it still commits with
two of them)."""
import json
import os
import signal
import time

import nodenet


def body(net, engine):
    for i in range(4):
        p = os.path.join(net.dir, "node%d" % i, "config.json")
        c = json.load(open(p))
        c["heartbeat_ms"] = 10
        json.dump(c, open(p, "w"))
    for i in range(4):
        net.start(i)
    net.send_load(200)
    victim = next(i for i in range(4) if i != net.leader())
    net.kill(victim, signal.SIGKILL)
    h0 = max(net.status(i)["height"] for i in net.running())
    deadline = time.time() + 40
    while max(net.status(i)["height"] for i in net.running()) < h0 + 400:
        assert time.time() < deadline, "the network did not make 400 blocks"
        time.sleep(0.2)
    net.send_load(300)
    net.start(victim)
    top = net.same_state([0, 1, 2, 3], timeout=60)
    print("validator", victim, "caught up", top - h0, "blocks behind, at height", top)
    if engine == "pbft":
        assert "sync: applied blocks" in net.log(victim), "PBFT validator did not use block sync"
    # it takes part again: with one other validator down, it is needed for a quorum
    other = next(i for i in range(4) if i != victim and i != net.leader())
    net.kill(other, signal.SIGKILL)
    net.send_load(200, nodes=[i for i in range(4) if i != other])
    net.start(other)
    net.same_state([0, 1, 2, 3], timeout=60)


if __name__ == "__main__":
    nodenet.main(body)
