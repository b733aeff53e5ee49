#!/usr/bin/env bash
# The P2P transport (node/node_net.c) on loopback: authenticated, encrypted
# frames per second beside the same frames through plain bufferevents in the
# same run (the ratio is the price of the handshake's keys and secretstream).
set -euo pipefail
build=${1:-build}
echo "== bench_node_net: transport throughput, one thread (references: plain length-prefixed TCP, secretstream alone) =="
"$build/bench_node_net" --frames 200000 --size 250
