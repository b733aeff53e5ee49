#!/usr/bin/env bash
# make bench, part market-lemon: issue 4's clearing benchmarks beside LEMON
# (uniform auction 10k and 100k, P2P bus form 10k on 55 buses, dense P2P
# 1000 x 1000), each solved by LEMON in the same run; prints min and median
# times and the ratio ours/LEMON.  $1 is the build dir.
set -euo pipefail
build=${1:-build}
echo "== bench_lemon: market clearing beside LEMON min-cost flow, same instances, same run =="
if [ -x "$build/bench_lemon" ]; then
  "$build/bench_lemon" ${BENCH_LEMON_ARGS:-}
else
  echo "bench_lemon not built: liblemon-dev is missing (scripts/deps.d/lemon.bench; make bench installs it)"
fi
