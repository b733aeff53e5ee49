#!/usr/bin/env bash
# Modbus RTU over a pseudo-terminal pair made by socat: gridmeter-sim serves the
# SDM630 layout as an RTU slave on one end, gridmeter polls the other end.
# Readings must come out, be committed once each and continue the registers.
source "$(dirname "$0")/meter_lib.bash" "$@"
command -v socat >/dev/null || { echo "socat missing (scripts/deps.d/meter.list)"; exit 1; }
start_bg socat -d -d "pty,raw,echo=0,link=$T/meter" "pty,raw,echo=0,link=$T/bridge" 2> "$T/socat.err"
for _ in $(seq 50); do [ -e "$T/meter" ] && [ -e "$T/bridge" ] && break; sleep 0.1; done
[ -e "$T/bridge" ] || { echo "socat made no pty pair"; cat "$T/socat.err"; exit 1; }
START=$(date +%s%3N)
start_bg "$SIM" --rtu "$T/meter" --seed 11 --accel 100 --start-ms "$START" > "$T/sim.out" 2> "$T/sim.err"
wait_line "$T/sim.out" '^rtu '
write_conf "$T/gm.conf" sdm630.conf "node = mem:$T/sink.log" "transport = rtu" "device = $T/bridge" \
  "baud = 9600" "poll_interval_ms = 10000" "slot_len_s = 120" "boundary_tolerance_ms = 30000" \
  "accel = 100" "start_ms = $START" "timeout_ms = 1000"
start_bg "$GM" -c "$T/gm.conf" > "$T/gm.out" 2> "$T/gm.err"
GMPID=$LAST_PID
sleep 6   # 600 simulated seconds: about 5 slots of 2 minutes
kill -TERM "$GMPID"; wait "$GMPID" 2>/dev/null || true
check_readings "$T/gm.out" "$T/sink.log" || { cat "$T/gm.err"; exit 1; }
n=$(grep -c '^slot ' "$T/gm.out" || true)
clean=$(grep -cE '^slot .* flags (0|8) ' "$T/gm.out" || true)   # complete: no GAP, no REPLACED
fails=$(grep -c 'poll failed' "$T/gm.err" || true)
echo "RTU over socat: $n readings, $clean complete, $fails failed polls"
[ "$n" -ge 3 ] && [ "$clean" -ge 2 ] || { cat "$T/gm.err"; exit 1; }
no_sanitizer_reports
