#!/usr/bin/env bash
# The server's CPU per request on the two single-request hot paths, this build against
# another commit's (built as against_commit does), both servers running at once and measured
# in turn, the order reversed every other round. Requests per second on this machine move
# by ±15% from round to round with its neighbours; the CPU time the server spends per
# request (perf stat's task-clock of the server's process, all its threads, user and
# kernel, over the load) moves much less, so a change of a few percent shows here first.
#   1. a single-visit resolve against 300 referrer mappings and 100 passthrough referrers;
#   2. GET of one passthrough referrer.
# Each measurement is wrk -t2 -c64 for SECONDS; the last lines give the means.
#   tools/dev bench cpu_per_request [REV=HEAD~1] [SECONDS=4] [ROUNDS=6]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
rev="${1:-HEAD~1}"
seconds="${2:-4}"
rounds="${3:-6}"
build_rev "$rev"
referrald_name=rev referrald_bin="$root/build-rev/build/referrald" start_referrald
url_rev=$referrald_url
pid_rev=${pids[-1]}
seed_read_account
referrald_name=this start_referrald
url_this=$referrald_url
pid_this=${pids[-1]}
seed_read_account

# cpu_us URL PID PATH: the load of PATH (read_load) against URL; prints the server's CPU per
# request in µs.
cpu_us() {
  referrald_url=$1
  read_load "$3"
  perf stat -e task-clock -p "$2" -o "$work/stat" -- sleep "$seconds" &
  local stat_pid=$!
  local out n
  out=$(BODY_FILE="$work/visit.json" wrk -t2 -c64 -d"${seconds}s" "${load[@]}")
  wait "$stat_pid"
  if grep -q "Non-2xx" <<<"$out"; then
    echo "cpu_per_request: $3 against $1 had answers other than 2xx:" >&2
    echo "$out" >&2
    exit 1
  fi
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  awk -v n="$n" '/task-clock/ {gsub(",", "", $1); printf "%.2f", $1 * 1000 / n}' "$work/stat"
}
: >"$work/rounds"
for r in $(seq 1 "$rounds"); do
  for path in resolve get; do
    if [ $((r % 2)) = 1 ]; then
      a=$(cpu_us "$url_rev" "$pid_rev" "$path")
      b=$(cpu_us "$url_this" "$pid_this" "$path")
    else
      b=$(cpu_us "$url_this" "$pid_this" "$path")
      a=$(cpu_us "$url_rev" "$pid_rev" "$path")
    fi
    printf 'round %s %-7s %s: %s µs, this build: %s µs of CPU per request\n' "$r" "$path" "$sha" "$a" "$b"
    echo "$path $a $b" >>"$work/rounds"
  done
done
awk '{a[$1] += $2; b[$1] += $3; n[$1]++}
  END {
    for (p in n) printf "%-7s means: %.2f µs against %.2f µs: this build %.3fx the CPU per request\n", p, b[p] / n[p], a[p] / n[p], b[p] / a[p]
  }' "$work/rounds"
