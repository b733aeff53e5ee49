#!/usr/bin/env bash
# gridnode (issue 5): 4 validators on loopback under Raft and under PBFT, a load
# generator submitting pre-signed transfers; committed tx/s and commit latency
# p50/p99, printed beside the machine's Ed25519 verify/s (each validator checks
# every signature once, so 4 validators on C cores cannot pass C*verify/4 tx/s)
# and beside a 3-member etcd cluster taking the same number of writes of the
# same size in this script.  Everything on 127.0.0.1, ports below the
# ephemeral range; every process and directory is removed at the end.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
gridnode=$build/gridnode
load=$build/bench_node_load
TXS=${BENCH_NODE_TXS:-40000}
ACCOUNTS=${BENCH_NODE_ACCOUNTS:-400}
RATES=${BENCH_NODE_RATES:-"2000 4000"}   # offered loads of the latency runs (tx/s)
work=$(mktemp -d /tmp/gl-bench-node.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
base=$(( 20000 + (RANDOM % 9000) ))
cores=$(nproc)

echo "== gridnode: 4 validators on loopback, pre-signed transfers (reference: Ed25519 verify/s, etcd) =="
vline=$("$load" --verify-rate)
vps=$(sed -n 's/.*verify_per_s=\([0-9]*\).*/\1/p' <<<"$vline")
bound=$(( vps * cores / 4 ))
echo "$vline; bound for 4 validators on $cores cores: $bound tx/s"

for engine in raft pbft; do
  dir=$work/$engine
  "$gridnode" testnet --validators 4 --dir "$dir" --engine "$engine" --base-port "$base" \
      --load-accounts "$ACCOUNTS" >/dev/null
  pids=()
  for i in 0 1 2 3; do
    "$gridnode" --config "$dir/node$i/config.json" >"$dir/log$i" 2>&1 &
    pids+=($!)
  done
  # start when a leader is known and every node sees its three peers
  for _ in $(seq 150); do
    up=0
    for i in 0 1 2 3; do
      curl -s -m 1 -X POST -d '{"jsonrpc":"2.0","id":1,"method":"status"}' "http://127.0.0.1:$((base + 100 + i))/" \
        | grep '"leader":[0-9]' | grep -q '"peers":3' && up=$((up + 1))
    done
    [ "$up" = 4 ] && break
    sleep 0.1
  done
  # the leader first: the load generator watches commits on the first node, and
  # a Raft follower learns of a commit only with the leader's next message
  leader=$(curl -s -m 1 -X POST -d '{"jsonrpc":"2.0","id":1,"method":"status"}' "http://127.0.0.1:$((base + 100))/" \
           | sed -n 's/.*"leader":\([0-9]*\).*/\1/p')
  rpcs="127.0.0.1:$((base + 100 + ${leader:-0}))"
  for i in 0 1 2 3; do [ "$i" = "${leader:-0}" ] || rpcs+=",127.0.0.1:$((base + 100 + i))"; done
  out=$("$load" --rpc "$rpcs" --accounts "$ACCOUNTS" --txs "$TXS" --timeout 120 --batch 1000) || true
  tps=$(sed -n 's/.*tx_per_s=\([0-9]*\).*/\1/p' <<<"$out")
  size=$(sed -n 's/.*bytes_per_tx=\([0-9]*\).*/\1/p' <<<"$out")
  echo "$engine throughput: $out"
  for rate in $RATES; do
    out=$("$load" --rpc "$rpcs" --accounts "$ACCOUNTS" --txs $(( rate * 8 )) --timeout 120 --batch 50 --rate "$rate") || true
    echo "$engine latency at $rate tx/s offered: $out"
  done
  awk -v e="$engine" -v t="${tps:-0}" -v v="$vps" -v b="$bound" 'BEGIN {
      printf "%s: committed_tx_per_s=%d  ed25519_verify_per_s=%d  ratio=%.2f  share_of_4-validator_bound=%.2f\n",
             e, t, v, t / v, t / b }'
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
  base=$(( base + 10 ))
done

# etcd: 3 members, the same number of writes of the same size (a transfer envelope)
size=${size:-164}
if command -v etcd >/dev/null; then
  cl=""; for i in 0 1 2; do cl+="e$i=http://127.0.0.1:$((base + 10 + i)),"; done; cl=${cl%,}
  for i in 0 1 2; do
    etcd --name "e$i" --data-dir "$work/etcd$i" \
         --listen-peer-urls "http://127.0.0.1:$((base + 10 + i))" \
         --initial-advertise-peer-urls "http://127.0.0.1:$((base + 10 + i))" \
         --listen-client-urls "http://127.0.0.1:$((base + 20 + i))" \
         --advertise-client-urls "http://127.0.0.1:$((base + 20 + i))" \
         --initial-cluster "$cl" --initial-cluster-state new --log-level error >"$work/etcd$i.log" 2>&1 &
    pids+=($!)
  done
  eps="127.0.0.1:$((base + 20)),127.0.0.1:$((base + 21)),127.0.0.1:$((base + 22))"
  for _ in $(seq 100); do
    ETCDCTL_API=3 etcdctl --endpoints "${eps//127/http://127}" endpoint health >/dev/null 2>&1 && break
    sleep 0.2
  done
  "$load" --etcd "$eps" --writes "$TXS" --size "$size" --clients 64 || true
else
  echo "etcd: not installed (scripts/deps.sh --bench installs etcd-server and etcd-client)"
fi
