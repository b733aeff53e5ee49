#!/usr/bin/env bash
# A meter replaced mid-slot, end to end: gridmeter-sim changes its serial
# number and restarts its counters near zero at a set simulated time.  The
# slot holding the change must be flagged REPLACED, must not count the jump
# (its import stays within what a household can draw in a slot), and the
# slots after it must be clean again and continue the new meter's registers.
source "$(dirname "$0")/meter_lib.bash" "$@"
START=$(date +%s%3N)
CHANGE=$((START + 150000 + 30000))   # 3.5 simulated minutes in: mid-slot
start_bg "$SIM" --port 0 --seed 4 --accel 100 --start-ms "$START" --serial-change-at-ms "$CHANGE" \
  > "$T/sim.out" 2> "$T/sim.err"
wait_line "$T/sim.out" '^port '
PORT=$(awk '/^port/{print $2}' "$T/sim.out")
write_conf "$T/gm.conf" sdm630.conf "node = mem:$T/sink.log" "port = $PORT" "poll_interval_ms = 5000" \
  "slot_len_s = 60" "boundary_tolerance_ms = 20000" "accel = 100" "start_ms = $START" "max_power_w = 20000"
start_bg "$GM" -c "$T/gm.conf" > "$T/gm.out" 2> "$T/gm.err"
GMPID=$LAST_PID
# Run until two clean slots after the change have been cut (about 6 s on a quiet
# machine; a loaded one drops polls and flags gaps, so wait for them rather than
# for a fixed time), at most 90 s.
CHANGE_SLOT=$((CHANGE / 60000))
for _ in $(seq 1 180); do
  n=$(awk -v c="$CHANGE_SLOT" '$1 == "slot" && $2 > c { f = ""; for (i = 3; i < NF; i += 2) if ($i == "flags") f = $(i + 1); if (f == 0) n++ } END { print n + 0 }' "$T/gm.out")
  [ "$n" -ge 2 ] && break
  sleep 0.5
done
kill -TERM "$GMPID"; wait "$GMPID" 2>/dev/null || true
check_readings "$T/gm.out" "$T/sink.log" || { cat "$T/gm.err"; exit 1; }
python3 - "$T/gm.out" "$CHANGE" "$START" <<'PY'
import sys
change, start = int(sys.argv[2]), int(sys.argv[3])
rows = []
for l in open(sys.argv[1]):
    w = l.split()
    if w and w[0] == "slot":
        d = dict(zip(w[2::2], w[3::2]))
        rows.append((int(w[1]), int(d["import_wh"]), int(d["cum_import_wh"]), int(d["flags"])))
change_slot = change // 60000
replaced = [r for r in rows if r[3] & 2]
if [r[0] for r in replaced] != [change_slot]:
    sys.exit("REPLACED on slots %r, expected only %d" % ([r[0] for r in replaced], change_slot))
r = replaced[0]
if r[1] > 20000 * 60 // 3600:   # max_power_w over one slot
    sys.exit("the replaced slot counts %d Wh: the jump was invented" % r[1])
if r[2] > 100000:
    sys.exit("the replaced slot ends on the OLD meter's register (%d Wh)" % r[2])
after = [x for x in rows if x[0] > change_slot]
# A slot after the change may carry GAP (a poll lost on a busy machine) but never
# REPLACED, and at least two must be clean and continue the new meter's register.
clean = [x for x in after if x[3] & 3 == 0]
if any(x[3] & 2 for x in after) or len(clean) < 2:
    sys.exit("slots after the change are not clean: %r" % after)
after = clean
print("meter replaced in slot %d: flagged, %d Wh counted (no jump), %d clean slots after, new register %d Wh"
      % (change_slot, r[1], len(after), after[-1][2]))
PY
no_sanitizer_reports
