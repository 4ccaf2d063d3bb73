#!/usr/bin/env bash
# Bulk import against one-by-one creates, and creates into a large account against an
# empty one, side by side on one server:
#   1. an import of 10,000 mappings (100 regex, 1,000 each of contains, ends_with and
#      starts_with, 6,900 exact) in one request, into three accounts, the median timed;
#   2. the same kind of mappings created one by one over 8 connections for SECONDS;
#   3. creates over 32 connections into an account holding those 10,000 mappings, then
#      into an empty account, SECONDS each, twice in turns (a fresh pair each round).
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
# Three imports into three accounts (the creates below go into big1, then big2, each
# then holding exactly the 10,000 imported mappings); the median request time as curl
# measures it (connect to last byte, without curl's own start).
times=()
for account in big1 big2 big3; do
  answer=$(curl -s -w '\n%{time_total}' -X POST "$referrald_url/referrer-mappings/import?account_id=$account" \
    "${auth[@]}" -H 'Content-Type: application/json' --data-binary @"$work/import.json")
  case "$answer" in *'"created":10000'*) ;; *) echo "import failed: $answer" >&2; exit 1 ;; esac
  times+=("$(echo "$answer" | tail -1)")
done
import_s=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 2p)
import_rate=$(awk -v t="$import_s" 'BEGIN { printf "%.0f", 10000 / t }')
echo "import of 10,000 mappings in one request (median of 3: ${times[*]} s): $import_s s, $import_rate rules/s"
one=$(ACCOUNT=one wrk_summary -t2 -c8 -d"${seconds}s" "${auth[@]}" -s "$root/tools/bench/mapping_create.lua" "$referrald_url")
echo "one by one, 8 connections: $one"
one_rate=$(echo "$one" | awk '{print $1}')
echo "import / one-by-one: $(awk -v a="$import_rate" -v b="$one_rate" 'BEGIN { printf "%.1f", a / b }')x"
for round in 1 2; do
  big=$(RUN=$round ACCOUNT=big$round wrk_summary -t2 -c32 -d"${seconds}s" "${auth[@]}" -s "$root/tools/bench/mapping_create.lua" "$referrald_url")
  empty=$(ACCOUNT=empty$round wrk_summary -t2 -c32 -d"${seconds}s" "${auth[@]}" -s "$root/tools/bench/mapping_create.lua" "$referrald_url")
  echo "round $round: creates into the 10,000-mapping account: $big; into an empty account: $empty; ratio $(awk -v a="$(echo "$big" | awk '{print $1}')" -v b="$(echo "$empty" | awk '{print $1}')" 'BEGIN { printf "%.2f", a / b }')"
done
