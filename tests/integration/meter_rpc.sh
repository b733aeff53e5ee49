#!/usr/bin/env bash
# gridmeter -> JSON-RPC -> a fake node (meter_fake_node.py) with verify_proof:
# the node is down for the first slots (readings wait in the LMDB queue), then
# comes up; every queued reading must be submitted in nonce order and be
# dropped from the queue only once get_state's proof verifies against the
# header's state root, that header's commit certificate checked against the
# genesis validators.  The readings the node holds are then exactly the ones
# gridmeter made.
source "$(dirname "$0")/meter_lib.bash" "$@"
START=$(date +%s%3N)
start_bg "$SIM" --port 0 --seed 5 --accel 100 --start-ms "$START" > "$T/sim.out" 2> "$T/sim.err"
wait_line "$T/sim.out" '^port '
PORT=$(awk '/^port/{print $2}' "$T/sim.out")
NODE_PORT=$(free_port)
FAKE=(python3 "$HERE/meter_fake_node.py" --chain-id gl-test --genesis "$T/genesis.json")
"${FAKE[@]}" --genesis-only
write_conf "$T/gm.conf" sdm630.conf "node = http://127.0.0.1:$NODE_PORT" "verify_proof = true" \
  "genesis = $T/genesis.json" \
  "port = $PORT" "poll_interval_ms = 5000" "slot_len_s = 60" "boundary_tolerance_ms = 10000" \
  "accel = 100" "start_ms = $START" "retry_min_ms = 100" "retry_max_ms = 400" "rpc_timeout_ms = 1000"
start_bg "$GM" -c "$T/gm.conf" > "$T/gm.out" 2> "$T/gm.err"
GMPID=$LAST_PID
sleep 3                                   # about 5 slots made while the node is down
made_before=$(grep -c '^slot ' "$T/gm.out" || true)
grep -q '^committed' "$T/gm.out" && { echo "committed with no node"; exit 1; }
start_bg "${FAKE[@]}" --port "$NODE_PORT" --pending 1 > "$T/node.out" 2> "$T/node.err"
wait_line "$T/node.out" '^port '
sleep 4
kill -TERM "$GMPID"; wait "$GMPID" 2>/dev/null || true
made=$(grep -c '^slot ' "$T/gm.out" || true)
committed=$(grep -c '^committed' "$T/gm.out" || true)
queued=$(tail -1 "$T/gm.err" | sed -n 's/.*stopping; \([0-9]*\) readings queued/\1/p')
echo "RPC: $made_before readings made while the node was down, $made made, $committed committed with proof, $queued left queued"
[ "$made_before" -ge 3 ] || { echo "too few readings while down"; exit 1; }
[ $((committed + queued)) -eq "$made" ] || { echo "made != committed + queued"; cat "$T/gm.err"; exit 1; }
[ "$queued" -le 2 ] || { echo "queue did not drain"; tail "$T/gm.err"; exit 1; }
# the committed ones are the first ones, in slot (= nonce) order
diff <(grep '^slot ' "$T/gm.out" | awk '{print $2}' | head -n "$committed") \
     <(grep '^committed' "$T/gm.out" | awk '{print $3}') || { echo "commit order differs"; exit 1; }
no_sanitizer_reports
