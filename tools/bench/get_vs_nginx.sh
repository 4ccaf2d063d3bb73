#!/usr/bin/env bash
# The two single-request hot paths over keep-alive HTTP (wrk -t2 -c64), each side by side
# with nginx serving the same body as a static file under the same load, in alternating
# rounds:
#   1. GET of one passthrough referrer (nginx: GET of the same bytes);
#   2. a single-visit resolve against an account of 300 referrer mappings and 100
#      passthrough referrers (nginx: the same POST, answered with the same bytes).
# nginx runs in two configurations (see start_nginx in lib.sh): as it is configured out of
# the box, and with its open file cache on. The last lines give each mean and each ratio.
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
echo "build: $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet || echo ' (with uncommitted changes)')"
echo "GET body: $(wc -c <"$work/one.json") bytes; resolve body: $(wc -c <"$work/resolved.json") bytes;" \
  "wrk -t2 -c64 -d${seconds}s; alternating rounds"
post=(-s "$root/tools/bench/post_file.lua")
: >"$work/rounds"
# row LABEL SUMMARY: prints one measurement and keeps its req/s for the summary.
row() {
  printf 'round %s %-31s %s\n' "$r" "$1:" "$2"
  echo "$1 ${2%% *}" >>"$work/rounds"
}
for r in $(seq 1 "$rounds"); do
  row "GET referrald" "$(wrk_get "$seconds")"
  row "GET nginx" "$(wrk_summary -t2 -c64 -d"${seconds}s" "$nginx_url")"
  row "GET nginx-open-file-cache" "$(wrk_summary -t2 -c64 -d"${seconds}s" "$nginx_cached_url")"
  row "resolve referrald" "$(wrk_resolve "$seconds")"
  row "resolve nginx" "$(BODY_FILE="$work/visit.json" wrk_summary -t2 -c64 -d"${seconds}s" \
    "${post[@]}" "$nginx_post_url")"
  row "resolve nginx-open-file-cache" "$(BODY_FILE="$work/visit.json" wrk_summary -t2 -c64 \
    -d"${seconds}s" "${post[@]}" "$nginx_cached_post_url")"
done
awk '{key = $1 " " $2; sum[key] += $3; n[key]++}
  END {
    for (p = 1; p <= 2; p++) {
      path = (p == 1 ? "GET" : "resolve")
      ours = sum[path " referrald"] / n[path " referrald"]
      plain = sum[path " nginx"] / n[path " nginx"]
      cached = sum[path " nginx-open-file-cache"] / n[path " nginx-open-file-cache"]
      printf "%s means: referrald %.0f, nginx %.0f, nginx with open file cache %.0f req/s;", path, ours, plain, cached
      printf " ratio %.2fx nginx, %.2fx nginx with open file cache\n", ours / plain, ours / cached
    }
  }' "$work/rounds"
