#!/usr/bin/env bash
# gridmeter's footprint at one poll per second (issue 7): resident memory
# (VmRSS, the peak of samples every second) and CPU time over a minute, beside
# two references measured in the same run: `sleep` (a process that does
# nothing) and gridmeter-sim (a libmodbus server answering the same polls).
#   60-meter.sh BUILD_DIR      (METER_BENCH_SECONDS=60 by default)
set -euo pipefail
build=${1:-build}
secs=${METER_BENCH_SECONDS:-60}
src=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/gl-meter-bench-XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
echo "== gridmeter footprint: 1 poll/s for ${secs}s (references: sleep, gridmeter-sim; same run) =="
"$build/gridmeter-sim" --port 0 --seed 1 > "$T/sim.out" 2>/dev/null & pids+=($!); simpid=$!
for _ in $(seq 50); do grep -qs '^port' "$T/sim.out" && break; sleep 0.1; done
port=$(awk '/^port/{print $2}' "$T/sim.out")
# a node for the RPC case: the tests' fake JSON-RPC node, with state proofs
python3 "$src/tests/integration/meter_fake_node.py" > "$T/node.out" 2>/dev/null & pids+=($!)
for _ in $(seq 50); do grep -qs '^port' "$T/node.out" && break; sleep 0.1; done
nport=$(awk '/^port/{print $2}' "$T/node.out")
"$build/gridmeter" keygen "$T/key.hex" > /dev/null
for kind in mem rpc; do
  if [ $kind = mem ]; then node="node = mem:"; else node="node = http://127.0.0.1:$nport
verify_proof = true"; fi
  cat > "$T/$kind.conf" <<EOF2
chain_id = bench
key_file = $T/key.hex
queue_dir = $T/queue-$kind
$node
map = $src/meterbridge/maps/sdm630.conf
port = $port
poll_interval_ms = 1000
slot_len_s = 10
EOF2
done
"$build/gridmeter" -c "$T/mem.conf" > "$T/mem.out" 2> "$T/mem.err" & pids+=($!); gmpid=$!
"$build/gridmeter" -c "$T/rpc.conf" > "$T/rpc.out" 2> "$T/rpc.err" & pids+=($!); rpcpid=$!
sleep "$((secs + 5))" & pids+=($!); sleeppid=$!
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
sleep 2
c0_gm=$(cpu $gmpid); c0_sim=$(cpu $simpid); c0_rpc=$(cpu $rpcpid)
peak_gm=0; peak_sim=0; peak_sleep=0; peak_rpc=0
for _ in $(seq "$secs"); do
  sleep 1
  r=$(rss $gmpid); [ "$r" -gt "$peak_gm" ] && peak_gm=$r
  r=$(rss $rpcpid); [ "$r" -gt "$peak_rpc" ] && peak_rpc=$r
  r=$(rss $simpid); [ "$r" -gt "$peak_sim" ] && peak_sim=$r
  r=$(rss $sleeppid); [ "$r" -gt "$peak_sleep" ] && peak_sleep=$r
done
c1_gm=$(cpu $gmpid); c1_sim=$(cpu $simpid); c1_rpc=$(cpu $rpcpid)
slots=$(grep -c '^slot ' "$T/mem.out" || true)
rslots=$(grep -c '^committed ' "$T/rpc.out" || true)
awk -v g="$peak_gm" -v s="$peak_sleep" -v m="$peak_sim" -v cg=$((c1_gm - c0_gm)) -v cs=$((c1_sim - c0_sim)) \
    -v hz="$ticks" -v secs="$secs" -v slots="$slots" -v r="$peak_rpc" -v cr=$((c1_rpc - c0_rpc)) -v rslots="$rslots" 'BEGIN {
  printf "gridmeter      VmRSS peak %6d kB   CPU %5.2f%% (%d ticks in %d s)   %d slots signed and committed (test sink)\n", g, 100*cg/hz/secs, cg, secs, slots
  printf "gridmeter rpc  VmRSS peak %6d kB   CPU %5.2f%% (%d ticks)   %d slots committed with proofs (JSON-RPC node)\n", r, 100*cr/hz/secs, cr, rslots
  printf "gridmeter-sim  VmRSS peak %6d kB   CPU %5.2f%%\n", m, 100*cs/hz/secs
  printf "sleep          VmRSS peak %6d kB\n", s
  printf "ratio: gridmeter / sleep RSS = %.2f, gridmeter / gridmeter-sim RSS = %.2f, rpc / sleep = %.2f; target < 8192 kB: %s\n", g/s, g/m, r/s, (g < 8192 && r < 8192 ? "met" : "NOT met")
}'
