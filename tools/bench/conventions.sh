#!/usr/bin/env bash
# The cost of the API conventions on the read paths, side by side in one run: the same
# build serving the same requests with rate limiting and the access log off
# (--rate-limit-rps 0, no --access-log), with the default limits only, and with both on
# (the default limits, every request logged to a file); "on" against "limits" is the access
# log's own cost. The three servers run at once, each with its own store, and are measured
# in turn in short rounds, the order reversed every other round, so that a change of the
# machine's speed during the run falls on all three alike. The access log is emptied
# between rounds. The last lines give the means and the median of each round's ratio.
#   1. GET of one passthrough referrer (wrk -t2 -c64);
#   2. a single-visit resolve against 300 referrer mappings and 100 passthrough referrers.
#   3. in one process, the CPU cost of one access-log line and of one rate-limit take.
#   tools/dev bench conventions [SECONDS=4] [ROUNDS=8]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
seconds="${1:-4}"
rounds="${2:-8}"
echo "$(machine)"
echo "build: $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet || echo ' (with uncommitted changes)')"
echo "wrk -t2 -c64 -d${seconds}s per measurement, $rounds rounds"

declare -A url
referrald_name=off start_referrald --rate-limit-rps 0
url[off]=$referrald_url
referrald_name=limits start_referrald
url[limits]=$referrald_url
referrald_name=on start_referrald --access-log "$work/access.log"
url[on]=$referrald_url
for k in off limits on; do
  referrald_url=${url[$k]}
  seed_read_account
done

# measure NAME: one round of both measurements on the server NAME.
measure() {
  referrald_url=${url[$1]}
  : >"$work/access.log"
  local get resolve lines=""
  get=$(wrk_get "$seconds")
  resolve=$(wrk_resolve "$seconds")
  [ "$1" = on ] && lines=", $(wc -l <"$work/access.log") access log lines"
  printf '  %-8s GET %s; resolve %s%s\n' "$1:" "$get" "$resolve" "$lines"
  echo "$r $1 ${get%% *} ${resolve%% *}" >>"$work/rounds"
}
: >"$work/rounds"
for r in $(seq 1 "$rounds"); do
  echo "round $r"
  if [ $((r % 2)) = 1 ]; then order=(off limits on); else order=(on limits off); fi
  for k in "${order[@]}"; do measure "$k"; done
done
awk '{get[$2] += $3; resolve[$2] += $4; n[$2]++; g[$1 " " $2] = $3; v[$1 " " $2] = $4; rounds = $1}
  function median(a, m,   i, j, t) {
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
  }
  function ratios(num, den,   r, gr, vr) {
    for (r = 1; r <= rounds; r++) { gr[r] = g[r " " num] / g[r " " den]; vr[r] = v[r " " num] / v[r " " den] }
    printf "%s / %s: GET %.3fx, resolve %.3fx (median of the rounds); GET %.3fx, resolve %.3fx (of the means)\n",
      num, den, median(gr, rounds), median(vr, rounds), get[num] / get[den], resolve[num] / resolve[den]
  }
  END {
    split("off limits on", ks, " ")
    for (i = 1; i <= 3; i++) printf "%-6s means: GET %.0f req/s, resolve %.0f req/s\n", ks[i], get[ks[i]] / n[ks[i]], resolve[ks[i]] / n[ks[i]]
    ratios("limits", "off")
    ratios("on", "limits")
  }' "$work/rounds"
# The same costs without the network: per access-log line and per rate-limit take.
"$root/build/bench/bench_conventions_cost" "$work/cost.log" 2000000
