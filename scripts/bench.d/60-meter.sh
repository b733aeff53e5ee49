#!/usr/bin/env bash
# gridmeter's footprint at one poll per second (issue 7): resident memory
# (VmRSS, the peak of samples every second) and CPU time over a minute, beside
# two references measured in the same run: `sleep` (a process that does
# nothing) and gridmeter-sim (a libmodbus server answering the same polls).
# Three gridmeters: the test sink (mem), the fake JSON-RPC node with
# verify_proof (certificates and proofs), and -- when BUILD_DIR has gridnode
# and gridctl -- a real one-validator gridnode on the demo clock (x300:
# every poll closes a 5-minute slot, so a reading is signed, submitted and
# verified under a certified header every second, far more than the one per 5
# or 15 minutes of real life).
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
# a node for the RPC case: the tests' fake JSON-RPC node, with state proofs and certificates
python3 "$src/tests/integration/meter_fake_node.py" --chain-id bench --genesis "$T/fake-genesis.json" \
  > "$T/node.out" 2>/dev/null & pids+=($!)
for _ in $(seq 50); do grep -qs '^port' "$T/node.out" && break; sleep 0.1; done
nport=$(awk '/^port/{print $2}' "$T/node.out")
"$build/gridmeter" keygen "$T/key.hex" > /dev/null
for kind in mem rpc; do
  if [ $kind = mem ]; then node="node = mem:"; else node="node = http://127.0.0.1:$nport
verify_proof = true
genesis = $T/fake-genesis.json"; fi
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
# a real gridnode: one validator, its market set up for the meter by the operator
gnpid= realpid=
if [ -x "$build/gridnode" ] && [ -x "$build/gridctl" ]; then
  start=$(date +%s%3N); epoch=$(( start / 900000 * 900000 ))
  base=$(python3 -c "import sys; sys.path.insert(0, sys.argv[1]); import nodenet; print(nodenet.free_base_port())" "$src/tests/integration")
  "$build/gridnode" testnet --validators 1 --dir "$T/net" --base-port "$base" --chain-id bench \
    --genesis-time-ms "$start" --clock-accel 300 --clock-start-ms "$start" > /dev/null
  "$build/gridnode" --config "$T/net/node0/config.json" > "$T/gridnode.log" 2>&1 & pids+=($!); gnpid=$!
  rpc=http://127.0.0.1:$((base + 100))
  "$build/gridmeter" keygen "$T/real.hex" > "$T/real.pub"; "$build/gridmeter" keygen "$T/house.hex" > "$T/house.pub"
  op=(--rpc "$rpc" --key "$T/net/operator.key" --genesis "$T/net/genesis.json" --wait)
  for _ in $(seq 100); do "$build/gridctl" transfer "${op[@]}" --to "$(cat "$T/house.pub")" \
    --amount 1000000 > /dev/null 2>&1 && break; sleep 0.1; done
  "$build/gridctl" transfer "${op[@]}" --to "$(cat "$T/real.pub")" --amount 1 > /dev/null
  "$build/gridctl" participant register "${op[@]}" --account "$(cat "$T/house.pub")" \
    --kind prosumer --meter "$(cat "$T/real.pub")" > /dev/null
  "$build/gridctl" params set "${op[@]}" --slot-ms 300000 --meter-epoch-ms "$epoch" \
    --metering-window-ms 172800000 > /dev/null 2>&1
  cat > "$T/real.conf" <<EOF2
chain_id = bench
key_file = $T/real.hex
queue_dir = $T/queue-real
node = $rpc
verify_proof = true
genesis = $T/net/genesis.json
map = $src/meterbridge/maps/sdm630.conf
port = $port
accel = 300
start_ms = $start
slot_epoch_ms = $epoch
slot_len_s = 300
poll_interval_ms = 300000
boundary_tolerance_ms = 300000
EOF2
  "$build/gridmeter" -c "$T/real.conf" > "$T/real.out" 2> "$T/real.err" & pids+=($!); realpid=$!
fi
sleep "$((2 * secs + 30))" & pids+=($!); sleeppid=$!
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
sleep 2
c0_gm=$(cpu $gmpid); c0_sim=$(cpu $simpid); c0_rpc=$(cpu $rpcpid)
c0_real=0; c0_gn=0
[ -n "$realpid" ] && { c0_real=$(cpu $realpid); c0_gn=$(cpu $gnpid); }
peak_gm=0; peak_sim=0; peak_sleep=0; peak_rpc=0; peak_real=0; peak_gn=0
for _ in $(seq "$secs"); do
  sleep 1
  r=$(rss $gmpid); [ "$r" -gt "$peak_gm" ] && peak_gm=$r
  r=$(rss $rpcpid); [ "$r" -gt "$peak_rpc" ] && peak_rpc=$r
  r=$(rss $simpid); [ "$r" -gt "$peak_sim" ] && peak_sim=$r
  r=$(rss $sleeppid); [ "$r" -gt "$peak_sleep" ] && peak_sleep=$r
  if [ -n "$realpid" ]; then
    r=$(rss $realpid); [ "$r" -gt "$peak_real" ] && peak_real=$r
    r=$(rss $gnpid); [ "$r" -gt "$peak_gn" ] && peak_gn=$r
  fi
done
c1_gm=$(cpu $gmpid); c1_sim=$(cpu $simpid); c1_rpc=$(cpu $rpcpid)
c1_real=0; c1_gn=0
[ -n "$realpid" ] && { c1_real=$(cpu $realpid); c1_gn=$(cpu $gnpid); }
realslots=$(grep -c '^committed ' "$T/real.out" 2>/dev/null || true)
slots=$(grep -c '^slot ' "$T/mem.out" || true)
rslots=$(grep -c '^committed ' "$T/rpc.out" || true)
awk -v g="$peak_gm" -v s="$peak_sleep" -v m="$peak_sim" -v cg=$((c1_gm - c0_gm)) -v cs=$((c1_sim - c0_sim)) \
    -v hz="$ticks" -v secs="$secs" -v slots="$slots" -v r="$peak_rpc" -v cr=$((c1_rpc - c0_rpc)) -v rslots="$rslots" \
    -v n="$peak_real" -v cn=$((c1_real - c0_real)) -v nslots="$realslots" -v gn="$peak_gn" -v cgn=$((c1_gn - c0_gn)) -v real="$realpid" 'BEGIN {
  printf "gridmeter      VmRSS peak %6d kB   CPU %5.2f%% (%d ticks in %d s)   %d slots signed and committed (test sink)\n", g, 100*cg/hz/secs, cg, secs, slots
  printf "gridmeter rpc  VmRSS peak %6d kB   CPU %5.2f%% (%d ticks)   %d slots committed with proofs (fake JSON-RPC node)\n", r, 100*cr/hz/secs, cr, rslots
  if (real != "") {
    printf "gridmeter node VmRSS peak %6d kB   CPU %5.2f%% (%d ticks)   %d slots committed, certificate and proof verified (real gridnode, x300)\n", n, 100*cn/hz/secs, cn, nslots
    printf "gridnode       VmRSS peak %6d kB   CPU %5.2f%% (one validator, reference)\n", gn, 100*cgn/hz/secs
  }
  printf "gridmeter-sim  VmRSS peak %6d kB   CPU %5.2f%%\n", m, 100*cs/hz/secs
  printf "sleep          VmRSS peak %6d kB\n", s
  printf "ratio: gridmeter / sleep RSS = %.2f, gridmeter / gridmeter-sim RSS = %.2f, rpc / sleep = %.2f, node / sleep = %.2f; target < 8192 kB: %s\n", g/s, g/m, r/s, (real != "" ? n/s : 0), (g < 8192 && r < 8192 && n < 8192 ? "met" : "NOT met")
}'
