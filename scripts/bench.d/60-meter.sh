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
for _ in $(seq 50); do grep -q '^port' "$T/sim.out" && break; sleep 0.1; done
port=$(awk '/^port/{print $2}' "$T/sim.out")
"$build/gridmeter" keygen "$T/key.hex" > /dev/null
cat > "$T/gm.conf" <<EOF2
chain_id = bench
key_file = $T/key.hex
queue_dir = $T/queue
node = mem:
map = $src/meterbridge/maps/sdm630.conf
port = $port
poll_interval_ms = 1000
slot_len_s = 10
EOF2
"$build/gridmeter" -c "$T/gm.conf" > "$T/gm.out" 2> "$T/gm.err" & pids+=($!); gmpid=$!
sleep "$((secs + 5))" & pids+=($!); sleeppid=$!
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
sleep 2
c0_gm=$(cpu $gmpid); c0_sim=$(cpu $simpid)
peak_gm=0; peak_sim=0; peak_sleep=0
for _ in $(seq "$secs"); do
  sleep 1
  r=$(rss $gmpid); [ "$r" -gt "$peak_gm" ] && peak_gm=$r
  r=$(rss $simpid); [ "$r" -gt "$peak_sim" ] && peak_sim=$r
  r=$(rss $sleeppid); [ "$r" -gt "$peak_sleep" ] && peak_sleep=$r
done
c1_gm=$(cpu $gmpid); c1_sim=$(cpu $simpid)
slots=$(grep -c '^slot ' "$T/gm.out" || true)
awk -v g="$peak_gm" -v s="$peak_sleep" -v m="$peak_sim" -v cg=$((c1_gm - c0_gm)) -v cs=$((c1_sim - c0_sim)) \
    -v hz="$ticks" -v secs="$secs" -v slots="$slots" 'BEGIN {
  printf "gridmeter      VmRSS peak %6d kB   CPU %5.2f%% (%d ticks in %d s)   %d slots signed and committed\n", g, 100*cg/hz/secs, cg, secs, slots
  printf "gridmeter-sim  VmRSS peak %6d kB   CPU %5.2f%%\n", m, 100*cs/hz/secs
  printf "sleep          VmRSS peak %6d kB\n", s
  printf "ratio: gridmeter / sleep RSS = %.2f, gridmeter / gridmeter-sim RSS = %.2f; target < 8192 kB: %s\n", g/s, g/m, (g < 8192 ? "met" : "NOT met")
}'
