"""test_node_network.py -- a 4-validator gridnode network on loopback (either engine):
transfers commit; a validator started late and an observer (sync by certified
blocks) catch up; killing the leader (kill -9, during
load) does not stop commits; the killed node restarts and reaches the same state
root; then the same for a follower."""
import json
import os
import signal
import time

import nodenet


def body(net, engine):
    # three of four validators: enough for either engine's quorum
    for i in (0, 1, 2):
        net.start(i)
    net.send_load(400)
    net.same_state([0, 1, 2])

    # a node started late catches up to the same state
    net.start(3)
    top = net.same_state([0, 1, 2, 3])
    print("late node 3 synced to height", top)
    # an observer (node 4, not a validator) fetches certified blocks itself
    net.send_load(300, nodes=[0, 1, 2, 3])
    net.start(4)
    top = net.same_state([0, 1, 2, 3, 4])
    assert "does not check" not in net.log(4)
    print("observer synced to height", top)

    # kill -9 the leader while transfers flow; the others go on committing
    leader = net.leader()
    assert leader is not None, "no leader"
    print("killing leader", leader)
    import threading
    t = threading.Thread(target=lambda: time.sleep(0.3) or net.kill(leader, signal.SIGKILL))
    t.start()
    rest = [i for i in range(4) if i != leader]  # validators only: the observer forwards nothing
    net.send_load(600, nodes=rest)
    t.join()
    h_before = max(net.status(i)["height"] for i in rest)
    net.send_load(200, nodes=rest)
    assert max(net.status(i)["height"] for i in rest) > h_before
    # it restarts from its own disk and reaches the same state root
    net.start(leader)
    top = net.same_state([0, 1, 2, 3])
    print("restarted node", leader, "agrees at height", top)

    # a follower too
    follower = next(i for i in range(4) if i != net.leader())
    net.kill(follower, signal.SIGKILL)
    net.send_load(300, nodes=[i for i in range(4) if i != follower])
    net.start(follower)
    net.send_load(100, nodes=[0, 1, 2, 3])
    net.same_state([0, 1, 2, 3, 4])
    # what any node serves checks out as a light client: the certificate by a
    # quorum of genesis validators (this engine's rule) and the balance proof
    if net.gridctl:
        genesis = json.load(open(os.path.join(net.dir, "genesis.json")))
        acct = genesis["accounts"][2]["key"]  # the first load account
        for i in range(5):
            out = net.light_client_check(i, acct)
        print("light client:", out.strip().splitlines()[-1])


if __name__ == "__main__":
    nodenet.main(body)
