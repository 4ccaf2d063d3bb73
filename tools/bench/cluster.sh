#!/usr/bin/env bash
# Cluster mode side by side with embedded mode on this machine (three local NATS servers,
# JetStream, three replicas):
#  1. durable creates over 32 accounts, 32 clients: one embedded server, then two cluster
#     nodes with 16 clients each;
#  2. cross-node visibility during that load: a probe creates a rule on node A and reads it
#     on node B with Referrald-Min-Seq set to the sequence A answered; B answers once it has
#     applied the write, so the read's duration is the delay from A's acknowledgement to B
#     having it (p50/p99 over the run);
#  3. resolve throughput over keep-alive (64 connections) on a follower node that filled
#     its copy from the stream (an account of 10,000 mappings moved in with `referralctl
#     cluster import`) and on an embedded server of the same account, rounds alternating;
#  4. failover: kill -9 of the server leading the stream, then the time until a write
#     succeeds again (three times; the killed server is restarted in between).
#   tools/dev bench cluster [SECONDS=10]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
seconds="${1:-10}"
auth=(-H "Authorization: Bearer $bench_key")
json=(-H 'Content-Type: application/json')

stop_nats() {
  for p in "${nats_pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work/nats"
}
creates() { # URL CLIENTS PREFIX -> wrk's summary line
  PREFIX="$3" ACCOUNTS=32 wrk_summary -t"$(($2 < 2 ? 1 : 2))" -c"$2" -d"${seconds}s" "${auth[@]}" \
    -s "$root/tools/bench/create.lua" "$1"
}
rate() { sed 's/ req\/s.*//' <<<"$1"; }

echo "$(machine)"

# 1 and 2 --------------------------------------------------------------------------------
start_node emb "$work/emb"
embedded=$(creates "$emb_url" 32 e)
stop_node "$emb_pid"
echo "embedded creates, 32 clients over 32 accounts: $embedded"

start_nats_cluster 3
start_node a "$work/a" --cluster "$nats_urls" --node-name a
start_node b "$work/b" --cluster "$nats_urls" --node-name b
curl -sf -X POST "$a_url/passthrough-referrers?account_id=probe" "${auth[@]}" "${json[@]}" \
  -d '{"domain":"warm.example","utm_source":"p"}' >/dev/null
creates "$a_url" 16 a >"$work/wrk_a" &
wrk_a=$!
creates "$b_url" 16 b >"$work/wrk_b" &
wrk_b=$!
# The probe, while both wrk run (one write and one read at a time).
end=$((SECONDS + seconds - 1))
i=0
: >"$work/visibility"
while [ "$SECONDS" -lt "$end" ]; do
  i=$((i + 1))
  seq=$(curl -s -D - -o /dev/null -X POST "$a_url/passthrough-referrers?account_id=probe" \
    "${auth[@]}" "${json[@]}" -d "{\"domain\":\"p$i.probe.example\",\"utm_source\":\"p\"}" |
    tr -d '\r' | awk -F': ' 'tolower($1) == "referrald-seq" {print $2}')
  [ -n "$seq" ] || continue
  curl -s -o /dev/null -w '%{http_code} %{time_total}\n' "${auth[@]}" -H "Referrald-Min-Seq: $seq" \
    "$b_url/passthrough-referrers/1?account_id=probe" >>"$work/visibility"
done
wait "$wrk_a" "$wrk_b"
cluster_a=$(cat "$work/wrk_a")
cluster_b=$(cat "$work/wrk_b")
total=$(awk -v x="$(rate "$cluster_a")" -v y="$(rate "$cluster_b")" 'BEGIN {printf "%.0f", x + y}')
echo "cluster creates, 16 clients on node A: $cluster_a"
echo "cluster creates, 16 clients on node B: $cluster_b"
echo "cluster creates, 32 clients on 2 nodes over 32 accounts: $total req/s = $(awk -v c="$total" \
  -v e="$(rate "$embedded")" 'BEGIN {printf "%.2f", c / e}')x embedded"
sort -k2 -n "$work/visibility" | awk '$1 != 200 {bad++} {t[NR] = $2 * 1000}
  END {printf "cross-node visibility under that load (%d probes%s): p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
    NR, (bad ? ", " bad " not 200" : ""), t[int(NR * 0.5 + 0.5)], t[int(NR * 0.99 + 0.5)], t[NR]}'
stop_node "$a_pid"
stop_node "$b_pid"
stop_nats

# 3 --------------------------------------------------------------------------------------
mkdir -p "$work/bodies"
"$root/build/bench/bench_seed_account" "$work/seed" bench "$work/bodies" >/dev/null
cp -a "$work/seed" "$work/emb3"
start_nats_cluster 3
"$root/build/referralctl" cluster import --data "$work/seed" --cluster "$nats_urls" | tail -1
start_node e "$work/emb3"
start_node f "$work/f" --cluster "$nats_urls" --node-name follower
for url in "$e_url" "$f_url"; do  # load the account (replay and index build) on both
  curl -sf -X POST "$url/attribution/resolve?account_id=bench" "${auth[@]}" "${json[@]}" \
    --data-binary @"$work/bodies/visit.json" >/dev/null
done
sum_e=0 sum_f=0
for r in 1 2 3; do
  e=$(BODY_FILE="$work/bodies/visit.json" wrk_summary -t2 -c64 -d"${seconds}s" "${auth[@]}" \
    -s "$root/tools/bench/post_file.lua" "$e_url/attribution/resolve?account_id=bench")
  f=$(BODY_FILE="$work/bodies/visit.json" wrk_summary -t2 -c64 -d"${seconds}s" "${auth[@]}" \
    -s "$root/tools/bench/post_file.lua" "$f_url/attribution/resolve?account_id=bench")
  echo "round $r resolve, embedded: $e; follower: $f; follower/embedded $(awk -v f="$(rate "$f")" \
    -v e="$(rate "$e")" 'BEGIN {printf "%.3f", f / e}')"
  sum_e=$(awk -v s="$sum_e" -v x="$(rate "$e")" 'BEGIN {print s + x}')
  sum_f=$(awk -v s="$sum_f" -v x="$(rate "$f")" 'BEGIN {print s + x}')
done
echo "resolve over the three rounds: follower/embedded $(awk -v f="$sum_f" -v e="$sum_e" 'BEGIN {printf "%.3f", f / e}')"
stop_node "$e_pid"

# 4 --------------------------------------------------------------------------------------
for r in 1 2 3; do
  leader=$(stream_leader)
  [ -n "$leader" ] || { echo "no stream leader" >&2; exit 1; }
  kill -9 "${nats_pids[leader - 1]}"
  wait "${nats_pids[leader - 1]}" 2>/dev/null || true
  start_ns=$(date +%s%N)
  until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 6 -X POST \
    "$f_url/passthrough-referrers?account_id=failover" "${auth[@]}" "${json[@]}" \
    -d "{\"domain\":\"r$r-$(date +%s%N).failover.example\",\"utm_source\":\"f\"}")" = 201 ]; do
    sleep 0.02
  done
  echo "failover round $r: server n$leader (the stream's leader) killed; writes succeed again after $(( ($(date +%s%N) - start_ns) / 1000000 )) ms"
  restart_nats "$leader"
  settle_nats  # back to three current replicas before the next round
done
