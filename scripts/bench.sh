#!/usr/bin/env bash
# make bench: every benchmark prints its figure beside a reference measured in
# the same run (the machine is shared and noisy: compare ratios).
set -euo pipefail
build=${1:-build}
echo "== bench_chain: block execution, 1,000 accounts (reference: Ed25519 verify/s) =="
"$build/bench_chain" --accounts 1000 --txs-per-block 10000 --blocks 5
echo
echo "== bench_chain: block execution, 100,000 accounts =="
"$build/bench_chain" --accounts 100000 --txs-per-block 10000 --blocks 5
echo
echo "== bench_smt: state tree updates and proofs (reference: raw hashing and LMDB puts) =="
"$build/bench_smt" ${BENCH_SMT_ARGS:-}
echo
echo "== bench_market: uniform auction and P2P clearing (reference: a plain sort of the same prices) =="
"$build/bench_market"
echo
echo "== gridsim: messages and ticks per committed block, no faults (reference: the ideal round count) =="
for n in 4 7 10; do
  "$build/gridsim" --engine raft --nodes $n --seed 1 --steps 2000 --faults none | grep msgs_per_block
  "$build/gridsim" --engine pbft --nodes $n --seed 1 --steps 2000 --faults none | grep msgs_per_block
done
# Parts added by each program: scripts/bench.d/*.sh, in name order, each given the build dir.
for part in "$(dirname "$0")"/bench.d/*.sh; do
  [ -f "$part" ] || continue
  echo
  bash "$part" "$build"
done
