"""test_node_byzantine.py -- PBFT only: one of four validators sends garbage, or
equivocates (validly signed conflicting messages, cons_equivocate), and the
three honest ones go on committing transfers and agree on the state root.  The
faulty node is restarted honest at the end and must agree too (equivocation
never got a conflicting block committed)."""
import signal

import nodenet


def body(net, engine):
    assert engine == "pbft", "Byzantine validators are a PBFT scenario (Raft assumes crash faults)"
    for mode, bad in (("garbage", 3), ("equivocate", 0)):  # 0 is the first primary
        net.kill(bad, signal.SIGKILL)  # (re)start the faulty one with its flag
        for i in range(4):
            if i not in net.procs:
                net.start(i, ["--byzantine", mode] if i == bad else [])
        honest = [i for i in range(4) if i != bad]
        net.send_load(400, nodes=honest)
        net.send_load(400, nodes=honest)
        top = net.same_state(honest)
        # the fault really happened: honest nodes refused junk, or hold evidence
        sts = [net.status(i) for i in honest]
        if mode == "garbage":
            assert sum(st["consensus_refused"] for st in sts) > 0, sts
        else:
            assert "byzantine: sent" in net.log(bad), "the faulty node never equivocated"
            # its conflicting messages reached the honest ones: kept as evidence or refused
            assert sum(st["evidence"] + st["consensus_refused"] for st in sts) > 0, sts
        print(mode, "validator", bad, ": honest nodes agree at height", top)
        net.kill(bad, signal.SIGKILL)
        net.start(bad)
        net.send_load(100, nodes=honest)
        net.same_state([0, 1, 2, 3])
        net.kill(bad, signal.SIGKILL)


if __name__ == "__main__":
    nodenet.main(body)
