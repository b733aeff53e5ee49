#!/usr/bin/env bash
# The state tree under a block's worth of account writes: 18,000 updates (what
# 10,000 transfers between 100,000 accounts write) into 10^5 keys, beside the
# hash floor and raw LMDB puts of the same run (bench_smt prints the ratios).
set -euo pipefail
build=${1:-build}
echo "== bench_smt: 18,000 updates per block into 10^5 keys (reference: hash floor, raw LMDB puts) =="
"$build/bench_smt" --max-keys 100000 --updates 18000 --blocks 10
