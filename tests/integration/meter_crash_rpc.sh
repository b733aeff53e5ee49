#!/usr/bin/env bash
# The crash test with a node over JSON-RPC that is itself killed with SIGKILL
# and restarted (meter_fake_node.py --state), gridmeter with verify_proof.
METER_CRASH_NODE=rpc exec bash "$(dirname "$0")/meter_crash.sh" "$@"
