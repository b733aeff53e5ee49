#!/usr/bin/env bash
# The crash test and store-and-forward against a REAL gridnode network: three raft
# validators (`gridnode testnet`) on the demo clock, gridmeter-sim and gridmeter on the
# same clock (block time = meter time = start + (now - start) x 300, so a 5-minute market
# slot passes in one second), gridmeter with verify_proof (certificates checked against
# genesis.json's validators).
#
# Setup, as an operator would, with gridctl: `transfer` funds the household and the meter
# key (its account carries the reading transactions' nonce), `participant register`
# (MKT_TX_REGISTER) binds the meter key to the household, and `params set`
# (MKT_TX_SET_PARAMS) sets slot_ms = 300 s, meter_epoch_ms = gridmeter's slot_epoch_ms and a
# metering window (2 days) that outlasts every outage.
#
# Then, over many slots: gridmeter is killed with SIGKILL at random moments and restarted;
# node0 -- the node gridmeter talks to -- is killed with SIGKILL at random moments and
# restarted; sometimes all three validators are killed at once (the chain stops); and once
# node0 stays down for a long stretch while gridmeter keeps metering (and is itself
# killed). At the end the meter is stopped, everything comes back, and gridmeter runs until
# its queue is empty.
#
# What the chain then holds is read back as a light client (get_state of every "meter/"
# reading key and "mkt/ev/" evidence key of the meter over the slots, proven under a header
# certified by the genesis validators: `gridctl meter readings`), from node0 and from node2,
# and must be:
#   - the same on both nodes;
#   - exactly the slots gridmeter made: every printed reading on chain with the printed
#     values; a reading on chain that was never printed only as a kill between the queue's
#     commit and the print can leave (at most 2 per kill);
#   - none twice and none conflicting: no evidence key, and the meter account's nonce equals
#     the number of readings (no reading transaction was refused or spent a nonce twice);
#   - clean slots continue the previous slot's registers;
#   - every reading made while node0 was down for the long stretch is on chain.
#   meter_node_crash.sh GRIDMETER GRIDMETER_SIM GRIDNODE GRIDCTL [CYCLES] [SEED]
source "$(dirname "$0")/meter_lib.bash" "$1" "$2"
GN=$3
GRIDCTL=$4
CYCLES=${5:-16}
SEED=${6:-11}
RANDOM=$SEED
ACCEL=300
NET=$T/net
T0=$(date +%s)
echo "meter_node_crash: seed $SEED, $CYCLES cycles"

on_failure() {
  local rc=$?
  if [ "$rc" != 0 ]; then
    echo "--- FAILED (seed $SEED); last lines of the logs:"
    for f in "$T"/gm.err "$T"/node0.err "$T"/node1.err "$T"/node2.err; do
      [ -f "$f" ] && { echo "--- $f"; tail -15 "$f"; }
    done
  fi
  cleanup
}
trap on_failure EXIT

BASE=$(python3 -c "import sys; sys.path.insert(0, sys.argv[1]); import nodenet; print(nodenet.free_base_port())" "$HERE")
# One clock for blocks, meter and simulated meter.  The market's meter epoch must be a
# multiple of 15 minutes: the quarter hour at or before the start.
START=$(date +%s%3N)
EPOCH=$(( START / 900000 * 900000 ))
"$GN" testnet --validators 3 --dir "$NET" --engine raft --base-port "$BASE" --chain-id gl-test \
  --genesis-time-ms "$START" --clock-accel "$ACCEL" --clock-start-ms "$START" > "$T/testnet.out"
RPC0=http://127.0.0.1:$((BASE + 100))
RPC2=http://127.0.0.1:$((BASE + 102))

NPID=("" "" "")
node_up() {
  [ -n "${NPID[$1]}" ] && return 0
  "$GN" --config "$NET/node$1/config.json" >> "$T/node$1.err" 2>&1 &
  NPID[$1]=$!
  PIDS+=($!)
}
node_kill() {  # a crash: SIGKILL
  [ -z "${NPID[$1]}" ] && return 0
  kill -9 "${NPID[$1]}" 2>/dev/null || true
  wait "${NPID[$1]}" 2>/dev/null || true
  NPID[$1]=
}
# height PORT: the node's committed height, or -1 when it does not answer
height() {
  python3 - "$1" <<'PY'
import json, sys, urllib.request
req = urllib.request.Request("http://127.0.0.1:%s/" % sys.argv[1],
    data=b'{"jsonrpc":"2.0","id":1,"method":"status"}', headers={"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=1) as r:
        print(json.load(r)["result"]["height"])
except Exception:
    print(-1)
PY
}
# wait_height PORT MIN SECONDS
wait_height() {
  local end=$(( $(date +%s) + $3 ))
  while [ "$(date +%s)" -le "$end" ]; do
    [ "$(height "$1")" -ge "$2" ] && return 0
    sleep 0.2
  done
  echo "node on port $1 did not reach height $2 in $3 s" >&2
  return 1
}
sleep_rand() {  # sleep_rand MIN_TENTHS SPAN_TENTHS
  local t=$(( $1 + RANDOM % ($2 + 1) ))
  sleep "$((t / 10)).$((t % 10))"
}

for i in 0 1 2; do node_up "$i"; done
wait_height $((BASE + 100)) 1 20

# ---- the operator's setup ----
write_conf "$T/gm.conf" sdm630.conf "node = $RPC0" "verify_proof = true" \
  "genesis = $NET/genesis.json" "slot_len_s = 300" "slot_epoch_ms = $EPOCH" \
  "accel = $ACCEL" "start_ms = $START" "poll_interval_ms = 30000" \
  "boundary_tolerance_ms = 60000" "timeout_ms = 300" "retry_min_ms = 100" \
  "retry_max_ms = 800" "rpc_timeout_ms = 1000"
METER=$(cat "$T/key.pub")
"$GM" keygen "$T/household.seed" > "$T/household.pub"
HOUSE=$(cat "$T/household.pub")
OP=(--rpc "$RPC0" --key "$NET/operator.key" --genesis "$NET/genesis.json" --wait --timeout 30)
"$GRIDCTL" transfer "${OP[@]}" --to "$HOUSE" --amount 1000000 > "$T/setup.out"
"$GRIDCTL" transfer "${OP[@]}" --to "$METER" --amount 1 >> "$T/setup.out"
"$GRIDCTL" participant register "${OP[@]}" --account "$HOUSE" --kind prosumer --renewable \
  --meter "$METER" --name meter-node-test >> "$T/setup.out"
"$GRIDCTL" params set "${OP[@]}" --slot-ms 300000 --meter-epoch-ms "$EPOCH" \
  --metering-window-ms 172800000 >> "$T/setup.out" 2>&1

# ---- the meter ----
start_bg "$SIM" --port 0 --seed 31 --accel "$ACCEL" --start-ms "$START" > "$T/sim.out" 2> "$T/sim.err"
SIM_PID=$LAST_PID
wait_line "$T/sim.out" '^port '
echo "port = $(awk '/^port/{print $2}' "$T/sim.out")" >> "$T/gm.conf"

gm_pid=
gm_up() {
  "$GM" -c "$T/gm.conf" >> "$T/gm.out" 2>> "$T/gm.err" &
  gm_pid=$!
  PIDS+=("$gm_pid")
}
gm_kill() {
  kill -9 "$gm_pid" 2>/dev/null && kills=$((kills + 1))
  wait "$gm_pid" 2>/dev/null || true
}
printed() { grep -c '^slot ' "$T/gm.out" 2>/dev/null || true; }
kills=0 node0_kills=0 chain_stops=0
long_made=0
for c in $(seq "$CYCLES"); do
  gm_up
  sleep_rand 3 12
  if [ "$c" = $((CYCLES / 2)) ]; then
    # The long stretch: node0 down for 12 s (36 slots of 5 minutes at x300) while
    # gridmeter meters on, and is itself killed twice.
    node_kill 0; node0_kills=$((node0_kills + 1))
    before=$(printed)
    for _ in 1 2; do sleep_rand 30 10; gm_kill; sleep_rand 1 3; gm_up; done
    sleep_rand 20 5
    long_made=$(( $(printed) - before ))
    node_up 0
  elif [ "$c" = $((CYCLES / 4)) ] || [ "$c" = $((3 * CYCLES / 4)) ] || [ $((RANDOM % 8)) = 0 ]; then
    # the whole chain stops: every validator killed at once, back after 1 to 3 s
    for i in 0 1 2; do node_kill "$i"; done
    chain_stops=$((chain_stops + 1))
    sleep_rand 10 20
    for i in 0 1 2; do node_up "$i"; done
  elif [ $((RANDOM % 2)) = 0 ]; then
    node_kill 0; node0_kills=$((node0_kills + 1))
    sleep_rand 2 10
    node_up 0
  fi
  sleep_rand 2 8
  gm_kill
  sleep_rand 0 4
done

# ---- the end: no more metering, everything up, the queue drains ----
# polls fail from now on: at most the open slot still closes
{ kill -9 "$SIM_PID"; wait "$SIM_PID"; } 2>/dev/null || true
for i in 0 1 2; do node_up "$i"; done
gm_up
sleep 2
kill -TERM "$gm_pid"; wait "$gm_pid" 2>/dev/null || true
for _ in $(seq 15); do
  tail -1 "$T/gm.err" | grep -q 'stopping; 0 readings queued' && break
  gm_up; sleep 2; kill -TERM "$gm_pid"; wait "$gm_pid" 2>/dev/null || true
done
tail -1 "$T/gm.err" | grep -q 'stopping; 0 readings queued' || { echo "the queue did not drain"; exit 1; }
if grep -E 'with result|proven absent|holds another reading|refused:' "$T/gm.err"; then
  echo "the chain refused a reading, or a node's answer did not verify"; exit 1
fi

# ---- what the chain holds, read back as a light client from two nodes ----
lo=$(awk '/^slot /{print $2}' "$T/gm.out" | sort -n | head -1)
hi=$(awk '/^slot /{print $2}' "$T/gm.out" | sort -n | tail -1)
[ -n "$lo" ] || { echo "no readings made"; exit 1; }
from=$(( lo > 3 ? lo - 3 : 0 ))
to=$(( hi + 3 ))
wait_height $((BASE + 102)) "$(height $((BASE + 100)))" 20
"$GRIDCTL" meter readings --rpc "$RPC0" --genesis "$NET/genesis.json" --meter "$METER" \
  --slots "$from:$to" --json > "$T/chain0.json"
"$GRIDCTL" meter readings --rpc "$RPC2" --genesis "$NET/genesis.json" --meter "$METER" \
  --slots "$from:$to" --json > "$T/chain2.json"
python3 - "$T/chain0.json" "$T/chain2.json" <<'PY' || { echo "node0 and node2 hold different readings"; exit 1; }
import json, sys
header = ("height", "verified", "block_hash", "state_root")  # each node's own certified header
a, b = ({k: v for k, v in json.load(open(p)).items() if k not in header} for p in sys.argv[1:3])
sys.exit(a != b)
PY

summary=$(python3 - "$T/gm.out" "$T/chain0.json" "$kills" "$long_made" <<'PY'
import json, sys
gm, chain, kills, long_made = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
printed = {}
for line in open(gm):
    w = line.split()
    if w and w[0] == "slot":
        d = dict(zip(w[2::2], w[3::2]))
        rec = tuple(int(d[k]) for k in ("import_wh", "export_wh", "cum_import_wh", "cum_export_wh", "flags"))
        s = int(w[1])
        if s in printed and printed[s] != rec:
            sys.exit("slot %d printed twice with different values" % s)
        printed[s] = rec
j = json.load(open(chain))
if j["verified"] is not True:
    sys.exit("the readings were not verified: %r" % j)
onchain, evidence, nonce = {}, [e["slot"] for e in j["evidence"]], j["meter_nonce"]
for r in j["readings"]:
    if r["slot_len_s"] != 300:
        sys.exit("slot %d on chain with slot_len_s %d" % (r["slot"], r["slot_len_s"]))
    onchain[r["slot"]] = tuple(r[k] for k in ("import_wh", "export_wh", "cum_import_wh", "cum_export_wh", "flags"))
if evidence:
    sys.exit("conflicting readings recorded as evidence for slots %s" % evidence)
for s, rec in sorted(printed.items()):
    if onchain.get(s) != rec:
        sys.exit("slot %d: gridmeter made %r, the chain holds %r" % (s, rec, onchain.get(s)))
unprinted = sorted(set(onchain) - set(printed))
if len(unprinted) > 2 * kills:
    sys.exit("%d readings on chain that gridmeter never printed: %s" % (len(unprinted), unprinted))
if nonce != len(onchain):
    sys.exit("the meter's nonce is %s but the chain holds %d readings: a reading transaction "
             "was refused or a slot was sent twice" % (nonce, len(onchain)))
prev = None
for s in sorted(onchain):
    rec = onchain[s]
    if prev is not None and prev[0] + 1 == s and rec[4] == 0:
        if rec[2] - rec[0] != prev[1][2] or rec[3] - rec[1] != prev[1][3]:
            sys.exit("clean slot %d does not continue slot %d's registers" % (s, prev[0]))
    prev = (s, rec)
if long_made < 5:
    sys.exit("only %d readings were made while node0 was down for the long stretch" % long_made)
clean = sum(1 for r in onchain.values() if r[4] == 0)
print("%d readings on chain (slots %d..%d, %d clean, flags seen %s), %d printed, %d unprinted, "
      "meter nonce %d, no evidence; %d made while node0 was down for the long stretch" % (
          len(onchain), min(onchain), max(onchain), clean, sorted({r[4] for r in onchain.values()}),
          len(printed), len(unprinted), nonce, long_made))
PY
) || exit 1
echo "$summary"
echo "meter_node_crash: $kills gridmeter SIGKILLs, $node0_kills node0 SIGKILLs, $chain_stops whole-chain stops (3 validators SIGKILLed), read back verified at height $(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["height"])' "$T/chain0.json"), $(( $(date +%s) - T0 )) s"
[ "$(echo "$summary" | awk '{print $1}')" -ge 20 ] || { echo "too few slots metered"; exit 1; }
no_sanitizer_reports
