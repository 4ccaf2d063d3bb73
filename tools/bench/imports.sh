#!/usr/bin/env bash
# Bulk import against one-by-one creates, and creates into a large account against an
# empty one, side by side on one server:
#   1. one import of 10,000 mappings (100 regex, 1,000 each of contains, ends_with and
#      starts_with, 6,900 exact) in one request, timed;
#   2. the same kind of mappings created one by one over 8 connections for SECONDS;
#   3. creates over 32 connections into the account holding those 10,000 mappings, then
#      into an empty account, SECONDS each, twice in turns.
#   tools/dev bench imports [SECONDS=8]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
seconds="${1:-8}"
echo "$(machine)"
awk 'BEGIN {
  printf "{\"mode\":\"create\",\"mappings\":["
  for (i = 0; i < 10000; i++) {
    if (i < 100) { t = "regex"; p = "^r" i "[0-9]+\\\\.vendor\\\\.com$" }
    else if (i < 1100) { t = "contains"; p = "c" i "word" }
    else if (i < 2100) { t = "ends_with"; p = "e" i ".example.com" }
    else if (i < 3100) { t = "starts_with"; p = "s" i "." }
    else { t = "exact"; p = "x" i ".example.net" }
    printf "%s{\"referrer_pattern\":\"%s\",\"match_type\":\"%s\",\"utm_source\":\"s%d\",\"priority\":%d}", (i ? "," : ""), p, t, i, (i * 7919) % 1001
  }
  printf "]}"
}' >"$work/import.json"
start_referrald
sleep 0.2
auth=(-H "Authorization: Bearer $bench_key")
t0=$(date +%s.%N)
answer=$(curl -s -X POST "$referrald_url/referrer-mappings/import?account_id=big" "${auth[@]}" \
  -H 'Content-Type: application/json' --data-binary @"$work/import.json")
t1=$(date +%s.%N)
case "$answer" in *'"created":10000'*) ;; *) echo "import failed: $answer" >&2; exit 1 ;; esac
import_rate=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", 10000 / (b - a) }')
echo "import of 10,000 mappings in one request: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') s, $import_rate rules/s"
one=$(ACCOUNT=one wrk_summary -t2 -c8 -d"${seconds}s" "${auth[@]}" -s "$root/tools/bench/mapping_create.lua" "$referrald_url")
echo "one by one, 8 connections: $one"
one_rate=$(echo "$one" | awk '{print $1}')
echo "import / one-by-one: $(awk -v a="$import_rate" -v b="$one_rate" 'BEGIN { printf "%.1f", a / b }')x"
for round in 1 2; do
  big=$(RUN=$round ACCOUNT=big wrk_summary -t2 -c32 -d"${seconds}s" "${auth[@]}" -s "$root/tools/bench/mapping_create.lua" "$referrald_url")
  empty=$(ACCOUNT=empty$round wrk_summary -t2 -c32 -d"${seconds}s" "${auth[@]}" -s "$root/tools/bench/mapping_create.lua" "$referrald_url")
  echo "round $round: creates into the 10,000-mapping account: $big; into an empty account: $empty; ratio $(awk -v a="$(echo "$big" | awk '{print $1}')" -v b="$(echo "$empty" | awk '{print $1}')" 'BEGIN { printf "%.2f", a / b }')"
done
