#!/usr/bin/env bash
# This build against another commit's, side by side in one run: the same requests to both
# servers in alternating rounds, so that a change's effect on the read paths is measured
# on one machine at one time. Builds REV (default HEAD~1) in Release into build-rev/ (its
# sources exported with git archive; ccache makes a rebuild cheap).
#   1. GET of one passthrough referrer (wrk -t2 -c64);
#   2. a single-visit resolve against an account of 300 referrer mappings and 100
#      passthrough referrers created through the API (wrk -t2 -c64).
#   tools/dev bench against_commit [REV=HEAD~1] [SECONDS=8] [ROUNDS=3]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
rev="${1:-HEAD~1}"
seconds="${2:-8}"
rounds="${3:-3}"
build_rev "$rev"

# measure BINARY LABEL: one round of both measurements on a fresh server from BINARY.
measure() {
  rm -rf "$work/data"
  referrald_bin="$1" start_referrald
  seed_read_account
  local get resolve
  get=$(wrk_get "$seconds")
  resolve=$(wrk_resolve "$seconds")
  echo "  $2: GET $get; resolve $resolve"
  kill "${pids[-1]}"
  wait "${pids[-1]}" 2>/dev/null || true
}
for r in $(seq 1 "$rounds"); do
  echo "round $r"
  measure "$root/build/referrald" "this build"
  measure "$root/build-rev/build/referrald" "$sha      "
done
