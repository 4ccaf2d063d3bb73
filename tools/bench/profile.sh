#!/usr/bin/env bash
# Where the server's time goes on one hot path, for this build and for REV (built as
# against_commit does): perf samples the server (all its threads, user and kernel time,
# 999 Hz) while wrk runs the load of against_commit, and prints each build's top functions
# by self time, as a share of the samples and in samples per unit of work (the builds differ
# in speed, so the second compares their costs):
#   batch    resolve-batch of 10,000 visits per request (wrk -t2 -c2) against an account of
#            10,000 mappings and 1,000 passthrough referrers; samples per batch;
#   resolve  a single-visit resolve (wrk -t2 -c64) against 300 mappings and 100 passthrough
#            referrers; samples per 1,000 requests;
#   get      a GET of one passthrough referrer (wrk -t2 -c64); samples per 1,000 requests.
#   tools/dev bench profile [REV=HEAD~1] [batch|resolve|get] [SECONDS=8] [TOP=20]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
rev="${1:-HEAD~1}"
what="${2:-batch}"
seconds="${3:-8}"
top="${4:-20}"
case "$what" in
  batch | resolve | get) ;;
  *) echo "usage: tools/dev bench profile [REV] [batch|resolve|get] [SECONDS] [TOP]" >&2; exit 2 ;;
esac
build_rev "$rev"
mkdir -p "$work/bodies"
seed_batch_account "$work/seed" "$work/bodies"
auth=(-H "Authorization: Bearer $bench_key")
post=(-s "$root/tools/bench/post_file.lua")

# load SECONDS: the load of $what against $referrald_url; prints wrk's output.
load() {
  case "$what" in
    batch) BODY_FILE="$work/bodies/batch.json" wrk -t2 -c2 -d"$1s" "${auth[@]}" "${post[@]}" \
      "$referrald_url/attribution/resolve-batch?account_id=bench" ;;
    resolve) BODY_FILE="$work/visit.json" wrk -t2 -c64 -d"$1s" "${auth[@]}" "${post[@]}" \
      "$referrald_url/attribution/resolve?account_id=acme" ;;
    get) wrk -t2 -c64 -d"$1s" "${auth[@]}" "$referrald_url/passthrough-referrers/1?account_id=acme" ;;
  esac
}

# profile BINARY LABEL: one profiled run on a fresh copy of the seeded store.
profile() {
  rm -rf "$work/data"
  cp -r "$work/seed" "$work/data"
  referrald_bin="$1" start_referrald
  local pid="${pids[-1]}"
  if [ "$what" = batch ]; then
    curl -sf -X POST "$referrald_url/attribution/resolve?account_id=bench" "${auth[@]}" \
      -H 'Content-Type: application/json' --data-binary @"$work/bodies/visit.json" >/dev/null
  else
    seed_read_account
  fi
  load 1 >/dev/null  # the steady state first
  perf record -q -F 999 -p "$pid" -o "$work/perf.data" -- sleep "$seconds" 2>/dev/null &
  local perf_pid=$!
  local out
  out=$(load "$seconds")
  wait "$perf_pid" || true
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  local requests unit=1 per="batch" bad
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  bad=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  [ "$what" = batch ] || { unit=1000; per="1,000 requests"; }
  perf report -i "$work/perf.data" --stdio --no-children --sort symbol -n 2>/dev/null >"$work/report.txt"
  local samples
  samples=$(awk '/^ *[0-9.]+%/ {n += $2} END {print n}' "$work/report.txt")
  echo "$2: $requests requests in ${seconds}s${bad:+ (non-2xx: $bad!)}, $samples samples" \
    "($(awk -v n="$samples" -v r="$requests" -v u="$unit" 'BEGIN {printf "%.1f", n * u / r}') per $per)"
  echo "   self %  per $per  function"
  awk -v r="$requests" -v u="$unit" -v top="$top" '/^ *[0-9.]+%/ && n < top {
      pct = $1; count = $2; $1 = ""; $2 = ""; sub(/^ +/, "")
      printf "  %6s  %8.2f  %s\n", pct, count * u / r, $0; n++
    }' "$work/report.txt"
}
echo "perf: $(perf --version); $what"
profile "$root/build-rev/build/referrald" "$sha"
profile "$root/build/referrald" "this build"
