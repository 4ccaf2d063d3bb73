#!/usr/bin/env bash
# The cost of the API conventions on the read paths, side by side in one run: the same
# build serving the same requests with rate limiting and the access log off
# (--rate-limit-rps 0, no --access-log), with the default limits only, and with both on
# (the default limits, every request logged to a file), in rounds on a fresh server each,
# the order of the three reversed every other round (so that none always runs first or
# last); "on" against "limits" is the access log's own cost. The last lines give the means
# and the ratios.
#   1. GET of one passthrough referrer (wrk -t2 -c64);
#   2. a single-visit resolve against 300 referrer mappings and 100 passthrough referrers.
#   3. in one process, the CPU cost of one access-log line and of one rate-limit take.
#   tools/dev bench conventions [SECONDS=8] [ROUNDS=3]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
seconds="${1:-8}"
rounds="${2:-3}"
echo "$(machine)"
echo "build: $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet || echo ' (with uncommitted changes)')"

# measure LABEL FLAGS...: one round of both measurements on a fresh server started with FLAGS.
measure() {
  local label="$1"
  shift
  rm -rf "$work/data" "$work/access.log"
  start_referrald "$@"
  seed_read_account
  local get resolve lines=""
  get=$(wrk_get "$seconds")
  resolve=$(wrk_resolve "$seconds")
  kill "${pids[-1]}"
  wait "${pids[-1]}" 2>/dev/null || true
  [ -f "$work/access.log" ] && lines=", $(wc -l <"$work/access.log") access log lines"
  echo "  $label: GET $get; resolve $resolve$lines"
  echo "$label ${get%% *} ${resolve%% *}" >>"$work/rounds"
}
: >"$work/rounds"
for r in $(seq 1 "$rounds"); do
  echo "round $r"
  if [ $((r % 2)) = 1 ]; then
    measure "off   " --rate-limit-rps 0
    measure "limits"
    measure "on    " --access-log "$work/access.log"
  else
    measure "on    " --access-log "$work/access.log"
    measure "limits"
    measure "off   " --rate-limit-rps 0
  fi
done
awk '{get[$1] += $2; resolve[$1] += $3; n[$1]++}
  END {
    for (k in n) printf "%-6s means: GET %.0f req/s, resolve %.0f req/s\n", k, get[k] / n[k], resolve[k] / n[k]
    printf "limits / off: GET %.3fx, resolve %.3fx\n", get["limits"] / get["off"], resolve["limits"] / resolve["off"]
    printf "on / limits (the access log): GET %.3fx, resolve %.3fx\n", get["on"] / get["limits"], resolve["on"] / resolve["limits"]
  }' "$work/rounds"
# The same costs without the network: per access-log line and per rate-limit take.
"$root/build/bench/bench_conventions_cost" "$work/cost.log" 2000000
