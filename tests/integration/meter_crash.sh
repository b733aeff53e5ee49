#!/usr/bin/env bash
# Crash test: gridmeter is killed with SIGKILL at random moments over many
# slots (accelerated clock), and the node goes down and comes back at random
# moments too.  Afterwards, with the node up, the queue drains, and the
# committed readings must be: one per slot, nonces 0..n-1 in slot order, each
# printed reading committed with exactly the printed values, clean slots
# continuing the registers, and no second, different reading for any slot
# ever offered to the node (the node records conflicts).  Some restarts get an
# OLD slot checkpoint back (as after a power cut that lost recent writes):
# gridmeter then re-closes slots it already made, and the queue's slot
# high-water mark must refuse every one of them.
#   meter_crash.sh GRIDMETER GRIDMETER_SIM [CYCLES] [SEED]
# METER_CRASH_NODE=mem (default): the test sink, switched down by a file.
# METER_CRASH_NODE=rpc: the fake JSON-RPC node (meter_fake_node.py --state),
#   itself killed with SIGKILL and restarted, gridmeter with verify_proof
#   (certificates checked against the fake node's genesis validators).
# meter_node_crash.sh is the same idea against a real gridnode network.
source "$(dirname "$0")/meter_lib.bash" "$1" "$2"
CYCLES=${3:-40}
RANDOM=${4:-7}
NODE=${METER_CRASH_NODE:-mem}
START=$(date +%s%3N)
start_bg "$SIM" --port 0 --seed 21 --accel 100 --start-ms "$START" > "$T/sim.out" 2> "$T/sim.err"
wait_line "$T/sim.out" '^port '
PORT=$(awk '/^port/{print $2}' "$T/sim.out")
if [ "$NODE" = rpc ]; then
  NODE_PORT=$(free_port)
  LOG=$T/node.state
  node_line="node = http://127.0.0.1:$NODE_PORT"
  FAKE=(python3 "$HERE/meter_fake_node.py" --chain-id gl-test --genesis "$T/genesis.json")
  "${FAKE[@]}" --genesis-only
  extra=("verify_proof = true" "genesis = $T/genesis.json")
else
  LOG=$T/sink.log
  node_line="node = mem:$LOG"
  extra=("verify_proof = false")
fi
write_conf "$T/gm.conf" sdm630.conf "$node_line" "${extra[@]}" "port = $PORT" "poll_interval_ms = 5000" \
  "slot_len_s = 60" "boundary_tolerance_ms = 10000" "accel = 100" "start_ms = $START" \
  "timeout_ms = 300" "retry_min_ms = 50" "retry_max_ms = 400" "rpc_timeout_ms = 500"
node_pid=
node_up() {
  if [ "$NODE" = rpc ]; then
    [ -n "$node_pid" ] && return 0
    "${FAKE[@]}" --port "$NODE_PORT" --state "$LOG" > "$T/node.out" 2>> "$T/node.err" &
    node_pid=$!
    PIDS+=("$node_pid")
    wait_line "$T/node.out" '^port '
  else
    rm -f "$LOG.down"
  fi
}
node_down() {  # a crash: SIGKILL for the fake node
  if [ "$NODE" = rpc ]; then
    [ -n "$node_pid" ] && { kill -9 "$node_pid" 2>/dev/null || true; wait "$node_pid" 2>/dev/null || true; }
    node_pid=
  else
    touch "$LOG.down"
  fi
}
kills=0 node_kills=0
node_up
for i in $(seq "$CYCLES"); do
  if [ $((RANDOM % 4)) = 0 ]; then node_down; node_kills=$((node_kills + 1)); else node_up; fi
  case $((RANDOM % 5)) in
    0) [ -f "$T/queue/slot.ckpt" ] && cp "$T/queue/slot.ckpt" "$T/old.ckpt" ;;
    1) [ -f "$T/old.ckpt" ] && cp "$T/old.ckpt" "$T/queue/slot.ckpt" ;;
  esac
  "$GM" -c "$T/gm.conf" >> "$T/gm.out" 2>> "$T/gm.err" &
  pid=$!
  PIDS+=("$pid")
  sleep "0.$((RANDOM % 5 + 1))$((RANDOM % 10))"
  if [ $((RANDOM % 3)) = 0 ]; then   # the node crashes while gridmeter runs, and restarts
    node_down; node_kills=$((node_kills + 1)); node_up
  fi
  sleep "0.$((RANDOM % 5))$((RANDOM % 10))"
  kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
  wait "$pid" 2>/dev/null || true
  sleep "0.$((RANDOM % 3))"
done
# the node comes back for good; gridmeter runs until its queue is empty
node_up
"$GM" -c "$T/gm.conf" >> "$T/gm.out" 2>> "$T/gm.err" &
pid=$!
PIDS+=("$pid")
sleep 4
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
tail -1 "$T/gm.err" | grep -q 'stopping; 0 readings queued' || { echo "queue did not drain"; tail -5 "$T/gm.err"; exit 1; }
if [ -s "$LOG.conflicts" ]; then
  echo "a second, different reading was offered for a slot:"; cat "$LOG.conflicts"; exit 1
fi
summary=$(check_readings "$T/gm.out" "$LOG") || { tail -20 "$T/gm.err"; exit 1; }
committed=$(wc -l < "$LOG")
printed=$(grep -c '^slot ' "$T/gm.out" || true)
refused=$(grep -c 'already made before a restart' "$T/gm.err" || true)
echo "$summary"
echo "crash test ($NODE node): $kills gridmeter kills, $node_kills node outages, $committed slots committed, $printed printed, $refused re-made slots refused"
# each kill can lose at most the print of the readings of one poll (2)
[ $((committed - printed)) -le $((2 * kills)) ] || { echo "too many unprinted commits"; exit 1; }
[ "$committed" -ge 20 ] || { echo "too few slots metered"; exit 1; }
[ "$refused" -ge 1 ] || { echo "no stale checkpoint was exercised; raise CYCLES"; exit 1; }
no_sanitizer_reports
