#!/usr/bin/env bash
# make bench, part market-tx: the market on the chain.  Blocks of signed
# orders (signatures pre-checked, as after mempool admission) and the block
# that clears a 10,000-order book from state, each clearing printed beside the
# pure clearing core solving the same book in memory in the same run, with
# the ratio (the cost of reading the book from state, moving the money and
# writing results, fills and trades as provable state).  $1 is the build dir.
set -euo pipefail
build=${1:-build}
echo "== bench_mkt_tx: market transactions and clearing from state, beside the clearing core on the same book =="
"$build/bench_mkt_tx" --orders 10000 --per-block 2000
