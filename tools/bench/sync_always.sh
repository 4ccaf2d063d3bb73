#!/usr/bin/env bash
# What `sync_interval: always` costs cluster writes: three local NATS servers (the stream with
# three replicas) and two nodes, durable creates over 32 accounts with 16 clients on each
# node for SECONDS, once with the servers' default sync (every 2 minutes on nats-server 2.10)
# and once with every write synced to disk before it is acknowledged, in alternating rounds
# in one run. Prints creates/s and p99 for each, and the ratio.
#   tools/dev bench sync_always [SECONDS=10] [ROUNDS=2]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
seconds="${1:-10}"
rounds="${2:-2}"
auth=(-H "Authorization: Bearer $bench_key")
json=(-H 'Content-Type: application/json')
echo "$(machine)"

creates() { # URL CLIENTS PREFIX -> wrk's summary line
  PREFIX="$3" ACCOUNTS=32 wrk_summary -t"$(($2 < 2 ? 1 : 2))" -c"$2" -d"${seconds}s" "${auth[@]}" \
    -s "$root/tools/bench/create.lua" "$1"
}
rate() { sed 's/ req\/s.*//' <<<"$1"; }

# one_round SYNC: the cluster with NATS_SYNC_INTERVAL=SYNC ("" for the default); sets
# $result to the total creates/s and both nodes' wrk lines.
one_round() {
  NATS_SYNC_INTERVAL="$1" start_nats_cluster 3
  start_two_nodes
  if [ "$a_url" = http:// ] || [ "$b_url" = http:// ]; then
    echo "a node did not start:" >&2
    tail -5 "$work/a.err" "$work/b.err" >&2
    exit 1
  fi
  curl -sf -X POST "$a_url/passthrough-referrers?account_id=warm" "${auth[@]}" "${json[@]}" \
    -d '{"domain":"warm.example","utm_source":"p"}' >/dev/null
  creates "$a_url" 16 "a$1" >"$work/wrk_a" &
  local wa=$!
  creates "$b_url" 16 "b$1" >"$work/wrk_b" &
  local wb=$!
  wait "$wa" "$wb"
  local total
  total=$(awk -v x="$(rate "$(cat "$work/wrk_a")")" -v y="$(rate "$(cat "$work/wrk_b")")" \
    'BEGIN {printf "%.0f", x + y}')
  result="$total|$(cat "$work/wrk_a") / $(cat "$work/wrk_b")"
  stop_node "$a_pid"
  stop_node "$b_pid"
  for p in "${nats_pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work/nats" "$work/a" "$work/b" "$work"/a.* "$work"/b.*
}

for r in $(seq 1 "$rounds"); do
  one_round ""
  lazy=$result
  one_round always
  always=$result
  echo "round $r, default sync:          ${lazy%%|*} creates/s (node a / node b: ${lazy#*|})"
  echo "round $r, sync_interval: always: ${always%%|*} creates/s (node a / node b: ${always#*|})"
  echo "round $r, always ÷ default: $(awk -v a="${always%%|*}" -v l="${lazy%%|*}" 'BEGIN {printf "%.2f", a / l}')"
done
