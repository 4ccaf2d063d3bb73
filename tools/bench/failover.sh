#!/usr/bin/env bash
# Writes' pause when a server or a node goes away (three local NATS servers, three
# replicas, two nodes a and b). One writer sends creates through node a, one at a time,
# in turns to an account a owns and one b owns; the pause of an event is the longest time
# between two successful writes from the event to 20 s after it. Events, each ROUNDS times:
#  1. the stream's leader stopped gracefully: `referralctl cluster stepdown`, then the old
#     leader stopped in lame duck mode (`nats-server --signal ldm=PID`);
#  2. the stream's leader stopped in lame duck mode without a stepdown first;
#  3. kill -9 of the stream's leader;
#  4. kill -9 of node b (the owner of half the accounts written), with the time until
#     node a counts one member (its partitions moved).
# A stopped server or node is started again, and the cluster given time to settle, before
# the next event. About 2 minutes per round.
#   tools/dev bench failover [ROUNDS=5]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
rounds="${1:-5}"
auth=(-H "Authorization: Bearer $bench_key")
json=(-H 'Content-Type: application/json')
echo "$(machine)"

start_nats_cluster 3
lame_duck_in_30s
start_node a "$work/a" --cluster "$nats_urls" --node-name a
start_node b "$work/b" --cluster "$nats_urls" --node-name b
members_are() {
  [ "$(metric "$a_url" referrald_cluster_members 2>/dev/null)" = "$1" ]
}
for _ in $(seq 1 150); do members_are 2 && break; sleep 0.1; done

# Two accounts, one owned by each node (b's writes through a are forwarded).
acc_a="" acc_b=""
for i in $(seq 0 40); do
  before=$(metric "$a_url" referrald_cluster_forwarded_total)
  curl -sf -X POST "$a_url/passthrough-referrers?account_id=f$i" "${auth[@]}" "${json[@]}" \
    -d '{"domain":"first.example","utm_source":"p"}' >/dev/null
  if [ "$(metric "$a_url" referrald_cluster_forwarded_total)" = "$before" ]; then
    acc_a=${acc_a:-f$i}
  else
    acc_b=${acc_b:-f$i}
  fi
  [ -n "$acc_a" ] && [ -n "$acc_b" ] && break
done

# The writer: one create at a time through node a; "end_ns http_code" per request.
writer() {
  local n=0 account code
  while :; do
    n=$((n + 1))
    if [ $((n % 2)) = 0 ]; then account=$acc_a; else account=$acc_b; fi
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST \
      "$a_url/passthrough-referrers?account_id=$account" "${auth[@]}" "${json[@]}" \
      -d "{\"domain\":\"w$n.failover.example\",\"utm_source\":\"f\"}" || true)
    echo "$(date +%s%N) $code"
  done
}
writer >"$work/writes" &
writer_pid=$!
pids+=($writer_pid)

# pause_after T0_NS: the longest gap (ms) between successful writes in [T0, T0 + 20 s],
# counting from T0; and the failed writes in it.
pause_after() {
  sleep 20
  awk -v t0="$1" -v end="$(($1 + 20000000000))" '
    $1 >= t0 && $1 <= end { if ($2 ~ /^2/) { if ($1 - last > gap) gap = $1 - last; last = $1 } else bad++ }
    $1 < t0 && $2 ~ /^2/ { last = $1 }
    END { if (last < t0) last = t0; printf "%.0f ms (%d failed writes)", gap / 1e6, bad }' "$work/writes"
}

# leader_rounds WHAT ACTION...: ROUNDS times, ACTION with $l set to the leading server's
# number, the pause reported as "round R, WHAT nL", the server started again.
leader_rounds() {
  local what="$1" r t0
  shift
  for r in $(seq 1 "$rounds"); do
    l=$(stream_leader)
    t0=$(date +%s%N)
    "$@"
    echo "round $r, $what n$l: pause $(pause_after "$t0")"
    restart_nats "$l"
    settle_nats
  done
}
stepdown_then_ldm() {
  "$root/build/referralctl" --cluster "$nats_urls" cluster stepdown >/dev/null 2>&1 || true
  "$nats_bin" --signal "ldm=${nats_pids[l - 1]}" >/dev/null 2>&1
}
ldm() { "$nats_bin" --signal "ldm=${nats_pids[l - 1]}" >/dev/null 2>&1; }
kill_leader() { kill -9 "${nats_pids[l - 1]}"; }

settle_nats
leader_rounds "stepdown then lame duck stop of the leader" stepdown_then_ldm
leader_rounds "lame duck stop of the leader (no stepdown)" ldm
leader_rounds "kill -9 of the leader" kill_leader
for r in $(seq 1 "$rounds"); do
  t0=$(date +%s%N)
  kill -9 "$b_pid"
  wait "$b_pid" 2>/dev/null || true
  until members_are 1; do sleep 0.05; done
  moved=$((($(date +%s%N) - t0) / 1000000))
  echo "round $r, kill -9 of node b: pause $(pause_after "$t0"); node a alone in the members after $moved ms"
  start_node b "$work/b" --cluster "$nats_urls" --node-name b
  for _ in $(seq 1 300); do members_are 2 && break; sleep 0.1; done
  settle_nats
done
kill "$writer_pid" 2>/dev/null || true
wait "$writer_pid" 2>/dev/null || true
awk '$2 ~ /^2/ {ok++} $2 !~ /^2/ {bad[$2]++} END {printf "writes: %d succeeded", ok; for (c in bad) printf ", %d answered %s", bad[c], c; print ""}' "$work/writes"
stop_node "$a_pid"
stop_node "$b_pid"
