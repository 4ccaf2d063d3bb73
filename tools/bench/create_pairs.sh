#!/usr/bin/env bash
# Durable creates of this build against another commit's, in many short pairs: both embedded
# servers run side by side for the whole run, and the same load (32 clients over 32 accounts,
# create.lua, wrk -t2 -c32, new domains each window) goes to each in turn, PAIRS times (which
# server goes first alternates). Each window: creates/s, the server's CPU and context switches
# per create (perf stat of the process), its creates per commit. Then, over the pairs: each
# figure's mean for both builds, the mean and median of this build's difference, and in how
# many pairs this build's figure was the lower (the higher for creates/s).
# On a machine whose speed moves from one minute to the next by more than a change moves a
# write, the pairs are a few seconds apart and the differences are taken within each pair.
# Builds REV (default HEAD~1) into build-rev/ as against_commit does.
#   tools/dev bench create_pairs [REV=HEAD~1] [PAIRS=30] [SECONDS=3]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
rev="${1:-HEAD~1}"
pairs="${2:-30}"
seconds="${3:-3}"
build_rev "$rev"
referrald_bin="$root/build/referrald" start_node this "$work/this"
referrald_bin="$root/build-rev/build/referrald" start_node rev "$work/rev"
for build in this rev; do
  url_of="${build}_url"
  PREFIX=w ACCOUNTS=32 wrk -t2 -c32 -d2s -H "Authorization: Bearer $bench_key" \
    -s "$root/tools/bench/create.lua" "${!url_of}" >/dev/null
done
# window PAIR BUILD: one window of the load on BUILD; a line "PAIR BUILD rate cpu switches
# per_commit" into $work/pairs.
window() {
  local url_of="${2}_url" pid_of="${2}_pid" before after
  before=$(metric "${!url_of}" referrald_store_commits_total)
  create_load "${!url_of}" "${!pid_of}" PREFIX="p$1$2"
  check_counted "referrald $2" "${!pid_of}" "$work/$2.err"
  after=$(metric "${!url_of}" referrald_store_commits_total)
  if grep -q Non-2xx "$work/wrk.out"; then
    echo "pair $1, $2: some creates were not answered 201" >&2
    exit 1
  fi
  per_create "${!pid_of}" "$requests" | awk -v p="$1" -v b="$2" -v n="$requests" \
    -v s="$seconds" -v c="$((after - before))" \
    '{printf "%s %s %.0f %s %s %.2f\n", p, b, n / s, $1, $4, (c > 0 ? n / c : 0)}' \
    >>"$work/pairs"
}
alternate_pairs "$pairs" '  pair %s, %-4s %6d creates/s, %5.1f us CPU, %.2f switches per create, %.1f creates per commit\n'
pairs_summary "$work/pairs" "3:1:creates/s" "4:0:us CPU per create" "5:0:switches per create" "6:1:creates per commit"
