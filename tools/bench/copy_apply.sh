#!/usr/bin/env bash
# What a node's copy costs per message applied (cluster mode): three local NATS servers, two
# nodes, creates through both with every write entering at its owner (16 clients on each over
# the 16 accounts that node owns), two windows of SECONDS each. For each window: the creates
# per second, each node's CPU per create (perf stat -e task-clock of the process) and the CPU
# of each node's follower thread (the one that applies every message of the stream to the
# node's copy) per message applied, i.e. per create of either node.
# With REV, builds REV into build-rev/ (as against_commit does) and measures both builds in
# ROUNDS alternating rounds, each on a cluster made anew.
#   tools/dev bench copy_apply [SECONDS=6] [REV] [ROUNDS=3]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
seconds="${1:-6}"
rev="${2:-}"
rounds="${3:-3}"

# one_round: one cluster, the two windows, a line per window.
one_round() {
  local auth=(-H "Authorization: Bearer $bench_key")
  start_nats_cluster 3
  start_two_nodes
  take_accounts c 16
  local window rate stat_a stat_b wrk_a
  for window in 0 1 2; do
    if [ "$window" != 0 ]; then
      perf stat -x, --per-thread -e task-clock -p "$a_pid" -o "$work/a.stat" -- sleep "$seconds" 2>/dev/null &
      stat_a=$!
      perf stat -x, --per-thread -e task-clock -p "$b_pid" -o "$work/b.stat" -- sleep "$seconds" 2>/dev/null &
      stat_b=$!
    fi
    # Window 0 warms both nodes for 2 s.
    local d=$([ "$window" = 0 ] && echo 2 || echo "$seconds")
    ACCOUNT_LIST="$own_a" PREFIX="a$window" wrk -t1 -c16 -d"${d}s" "${auth[@]}" \
      -s "$root/tools/bench/create.lua" "$a_url" >"$work/wa" &
    wrk_a=$!
    ACCOUNT_LIST="$own_b" PREFIX="b$window" wrk -t1 -c16 -d"${d}s" "${auth[@]}" \
      -s "$root/tools/bench/create.lua" "$b_url" >"$work/wb"
    wait "$wrk_a" || true
    for n in a b; do
      local pid_var="${n}_pid"
      if ! kill -0 "${!pid_var}" 2>/dev/null; then
        echo "  node $n stopped during the load:" >&2
        tail -n 20 "$work/$n.err" >&2
        return 1
      fi
    done
    [ "$window" = 0 ] && continue
    wait "$stat_a" "$stat_b" || true
    rate=$(cat "$work/wa" "$work/wb" | awk '/Requests\/sec/ {s += $2} END {printf "%.0f", s}')
    # per STAT PID: "X us per create, follower Y us per message". The follower is the thread
    # named "log.follow"; in a build from before it was named, the busiest thread that keeps
    # the process's name, the main thread (an HTTP thread) aside.
    per() {
      awk -F, -v c="$((rate * seconds))" -v main="referrald-$2" '/task-clock/ {
          all += $2
          if ($1 ~ /^log\.follow-[0-9]+$/) named += $2
          else if ($1 ~ /^referrald-[0-9]+$/ && $1 != main && $2 ~ /^[0-9.]+$/ && $2 + 0 > busiest + 0) busiest = $2 }
        END {fo = named > 0 ? named : busiest
          printf "%.0f us per create, follower %.1f us per message", all * 1000 / c, fo * 1000 / c}' "$1"
    }
    echo "  window $window: $rate creates/s; node a $(per "$work/a.stat" "$a_pid"); node b $(per "$work/b.stat" "$b_pid")"
  done
}

if [ "${COPY_APPLY_ONE:-}" = 1 ]; then
  one_round
  exit 0
fi
echo "$(machine)"
if [ -z "$rev" ]; then
  echo "this build: $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- . ':!tools/bench' || echo ' (with changes)')"
  for r in $(seq 1 "$rounds"); do
    echo "round $r:"
    COPY_APPLY_ONE=1 "$0" "$seconds" || echo "  (no figures: the round stopped)"
  done
  exit 0
fi
build_rev "$rev"
# In turns, each build first in every other round.
this_build() {
  echo "round $r, this build:"
  COPY_APPLY_ONE=1 "$0" "$seconds" || echo "  (no figures: the round stopped)"
}
rev_build() {
  echo "round $r, $rev:"
  COPY_APPLY_ONE=1 referrald_bin="$root/build-rev/build/referrald" "$0" "$seconds" ||
    echo "  (no figures: the round stopped)"
}
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) = 1 ]; then
    this_build
    rev_build
  else
    rev_build
    this_build
  fi
done
