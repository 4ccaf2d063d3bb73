#!/usr/bin/env bash
# The two single-request hot paths over keep-alive HTTP (wrk -t2 -c64), each side by side
# with nginx serving the same body as a static file under the same load, in alternating
# rounds:
#   1. GET of one passthrough referrer (nginx: GET of the same bytes);
#   2. a single-visit resolve against an account of 300 referrer mappings and 100
#      passthrough referrers (nginx: the same POST, answered with the same bytes).
#   tools/dev bench get_vs_nginx [SECONDS=10] [ROUNDS=3]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
seconds="${1:-10}"
rounds="${2:-3}"
start_referrald
seed_read_account
auth=(-H "Authorization: Bearer $bench_key")
url="$referrald_url/passthrough-referrers/1?account_id=acme"
curl -sf "$url" "${auth[@]}" >"$work/one.json"
curl -sf -X POST "$referrald_url/attribution/resolve?account_id=acme" "${auth[@]}" \
  -H 'Content-Type: application/json' --data-binary @"$work/visit.json" >"$work/resolved.json"
start_nginx "$work/one.json" "$work/resolved.json"
echo "$(machine)"
echo "GET body: $(wc -c <"$work/one.json") bytes; resolve body: $(wc -c <"$work/resolved.json") bytes;" \
  "wrk -t2 -c64 -d${seconds}s; alternating rounds"
post=(-s "$root/tools/bench/post_file.lua")
for r in $(seq 1 "$rounds"); do
  echo "round $r GET referrald:     $(wrk_get "$seconds")"
  echo "round $r GET nginx:         $(wrk_summary -t2 -c64 -d"${seconds}s" "$nginx_url")"
  echo "round $r resolve referrald: $(wrk_resolve "$seconds")"
  echo "round $r resolve nginx:     $(BODY_FILE="$work/visit.json" wrk_summary -t2 -c64 -d"${seconds}s" \
    "${post[@]}" "$nginx_post_url")"
done
