#!/usr/bin/env bash
# Attribution resolution over HTTP against an account of 10,000 mappings and 1,000
# passthrough referrers (written by bench_seed_account):
#  1. resolve-batch with 10,000 visits per request: visits per second;
#  2. single-visit resolve over keep-alive, 64 connections, side by side with nginx
#     serving a static JSON of the same size.
#   tools/dev bench resolve [SECONDS=10]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
seconds="${1:-10}"
mkdir -p "$work/bodies"
"$root/build/bench/bench_seed_account" "$work/data" bench "$work/bodies"
start_referrald
auth=(-H "Authorization: Bearer $bench_key")
echo "$(machine)"
# Warm up: the first request loads the account (replay + index build).
curl -sf -X POST "$referrald_url/attribution/resolve?account_id=bench" "${auth[@]}" \
  -H 'Content-Type: application/json' --data-binary @"$work/bodies/visit.json" >"$work/one.json"
echo "batch body: $(wc -c <"$work/bodies/batch.json") bytes, 10000 visits"
for c in 1 2 4; do
  out=$(BODY_FILE="$work/bodies/batch.json" wrk -t"$(( c < 2 ? 1 : 2 ))" -c"$c" -d"${seconds}s" --latency \
    "${auth[@]}" -s "$root/tools/bench/post_file.lua" "$referrald_url/attribution/resolve-batch?account_id=bench")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '/ 99%/ {print $2}' <<<"$out")
  bad=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  echo "resolve-batch, $c connection(s): $rps requests/s = $(awk -v r="$rps" 'BEGIN {printf "%.0f", r*10000}') visits/s, p99 $p99${bad:+, non-2xx $bad}"
done
echo "single-visit response: $(wc -c <"$work/one.json") bytes"
start_nginx "$work/one.json"
for r in 1 2 3; do
  echo "round $r resolve: $(BODY_FILE="$work/bodies/visit.json" wrk_summary -t2 -c64 -d"${seconds}s" "${auth[@]}" \
    -s "$root/tools/bench/post_file.lua" "$referrald_url/attribution/resolve?account_id=bench")"
  echo "round $r nginx:   $(wrk_summary -t2 -c64 -d"${seconds}s" "$nginx_url")"
done
