#!/usr/bin/env bash
# The JSON-heavy paths of this build against another commit's, side by side, taking turns:
# resolve-batch (10,000 visits per request, wrk -t2 -c2) and AI-referral push (8 pushers,
# 5,000-row batches), each on a fresh copy of the same seeded store. Builds REV (default
# HEAD, i.e. without the working tree's changes) in Release into build-rev/ as
# against_commit does.
#   tools/dev bench json_paths [REV=HEAD] [SECONDS=8] [ROUNDS=2]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
rev="${1:-HEAD}"
seconds="${2:-8}"
rounds="${3:-2}"
build_rev "$rev"
mkdir -p "$work/bodies"
"$root/build/bench/bench_seed_account" "$work/seeded" bench "$work/bodies"
auth=(-H "Authorization: Bearer $bench_key")
for round in $(seq 1 "$rounds"); do
  for variant in this rev; do
    if [ "$variant" = this ]; then
      referrald_bin="$root/build/referrald" label="this build"
    else
      referrald_bin="$root/build-rev/build/referrald" label="$sha"
    fi
    rm -rf "$work/data"
    cp -a "$work/seeded" "$work/data"
    start_referrald
    curl -sf -X POST "$referrald_url/attribution/resolve?account_id=bench" "${auth[@]}" \
      -H 'Content-Type: application/json' --data-binary @"$work/bodies/visit.json" >/dev/null
    out=$(BODY_FILE="$work/bodies/batch.json" wrk -t2 -c2 -d"${seconds}s" "${auth[@]}" \
      -s "$root/tools/bench/post_file.lua" "$referrald_url/attribution/resolve-batch?account_id=bench")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    echo "round $round $label resolve-batch: $(awk -v r="$rps" 'BEGIN {printf "%.0f", r*10000}') visits/s"
    connection=$(curl -sf -X POST "$referrald_url/7/ai-referrals/connections" "${auth[@]}" \
      -H 'Content-Type: application/json' -d '{"name":"bench","source_tool":"ga4"}' |
      sed -n 's/.*"id":"\([0-9A-Z]*\)".*/\1/p')
    port="${referrald_url##*:}"
    echo "round $round $label push: $("$root/build/bench/bench_push" http "$port" "$bench_key" 7 \
      "$connection" 8 "$seconds" 5000 0 | grep -o '[0-9.]* rows/s' | head -1)"
    kill "${pids[-1]}"
    wait "${pids[-1]}" 2>/dev/null || true
  done
done
