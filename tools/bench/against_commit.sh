#!/usr/bin/env bash
# This build against another commit's, side by side in one run: the same requests to both
# servers in alternating rounds, so that a change's effect on the read paths is measured
# on one machine at one time. Builds REV (default HEAD~1) in Release into build-rev/ (its
# sources exported with git archive; ccache makes a rebuild cheap).
#   1. GET of one passthrough referrer (wrk -t2 -c64);
#   2. a single-visit resolve against an account of 300 referrer mappings and 100
#      passthrough referrers created through the API (wrk -t2 -c64);
#   3. resolve-batch: 10,000 visits per request (search, social, AI, mapped, passthrough,
#      utm and direct visits) against an account of 10,000 mappings and 1,000 passthrough
#      referrers written by bench_seed_account (wrk -t2 -c2): visits per second.
# Then this build once more with 10 channel rules and non-default settings on the batch
# account (what an account that uses them pays).
#   tools/dev bench against_commit [REV=HEAD~1] [SECONDS=8] [ROUNDS=3]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
rev="${1:-HEAD~1}"
seconds="${2:-8}"
rounds="${3:-3}"
build_rev "$rev"

mkdir -p "$work/bodies"
seed_batch_account "$work/seed" "$work/bodies"
auth=(-H "Authorization: Bearer $bench_key")
json=(-H 'Content-Type: application/json')

# wrk_batch: resolve-batch of $work/bodies/batch.json against account bench; visits/s.
wrk_batch() {
  curl -sf -X POST "$referrald_url/attribution/resolve?account_id=bench" "${auth[@]}" "${json[@]}" \
    --data-binary @"$work/bodies/visit.json" >/dev/null  # loads the account
  local out rps
  out=$(BODY_FILE="$work/bodies/batch.json" wrk -t2 -c2 -d"${seconds}s" "${auth[@]}" \
    -s "$root/tools/bench/post_file.lua" "$referrald_url/attribution/resolve-batch?account_id=bench")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  awk -v r="$rps" 'BEGIN {printf "%.0f visits/s", r*10000}'
  grep -q Non-2xx <<<"$out" && echo -n " (non-2xx answers!)"
  true
}

# measure BINARY LABEL [channels]: one round of the three measurements on a fresh server
# from BINARY (with "channels": the batch account gets channel rules and settings first).
measure() {
  rm -rf "$work/data"
  cp -r "$work/seed" "$work/data"
  referrald_bin="$1" start_referrald
  seed_read_account
  if [ "${3:-}" = channels ]; then
    for m in email newsletter cpc social referral organic ai display affiliate sms; do
      curl -sf -X POST "$referrald_url/channel-rules?account_id=bench" "${auth[@]}" "${json[@]}" \
        -d "{\"name\":\"$m\",\"channel\":\"Ours $m\",\"utm_medium\":[\"$m-x\",\"$m-y\"],\"landing_path_prefix\":\"/rooms/4\"}" >/dev/null
    done
    curl -sf -X PATCH "$referrald_url/settings?account_id=bench" "${auth[@]}" "${json[@]}" \
      -d '{"own_domains":["*.hotel-group.example"],"campaign_parameter_presets":["matomo"]}' >/dev/null
  fi
  local get resolve batch
  get=$(wrk_get "$seconds")
  resolve=$(wrk_resolve "$seconds")
  batch=$(wrk_batch)
  echo "  $2: GET $get; resolve $resolve; resolve-batch $batch"
  kill "${pids[-1]}"
  wait "${pids[-1]}" 2>/dev/null || true
}
# The builds take turns going first (ABBA): whatever a round's position costs (the page
# cache after the copy of the seed, the machine's own phases) falls on both alike.
for r in $(seq 1 "$rounds"); do
  echo "round $r"
  if [ $((r % 2)) = 1 ]; then
    measure "$root/build/referrald" "this build"
    measure "$root/build-rev/build/referrald" "$sha      "
  else
    measure "$root/build-rev/build/referrald" "$sha      "
    measure "$root/build/referrald" "this build"
  fi
done
echo "this build, the batch account with 10 channel rules and settings:"
measure "$root/build/referrald" "this build" channels
