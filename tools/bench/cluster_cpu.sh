#!/usr/bin/env bash
# Where the machine's CPU goes per write in cluster mode (three local NATS servers, three
# replicas), side by side in one run, from each process's user+system time (/proc/PID/stat)
# over the measured interval divided by the writes made in it:
#  0. the stream alone, written by the smallest client (bench_stream_alone: libnats only,
#     32 writers each waiting for its acknowledgement, 350-byte messages with the headers of
#     a node's write): the NATS servers and the client — the ceiling;
#  1. the event log alone (bench_cluster_log, 32 accounts, 32 clients): the NATS servers,
#     and the client process (publisher and one follower: the part of a node's work the
#     log alone does);
#  2. creates through two nodes, 16 clients on each over the same 32 accounts (as
#     `tools/dev bench cluster`): the NATS servers, each node, and wrk;
# then the rate the whole machine's cores would allow at that cost (cores x 1 s / CPU per
# write), next to the rate measured.
#   tools/dev bench cluster_cpu [SECONDS=8]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
seconds="${1:-8}"
echo "$(machine)"
hz=$(getconf CLK_TCK)
cores=$(nproc)
ticks() { proc_ticks "$1" | awk '{print $1 + $2}'; }
# us_per NAME TICKS WRITES: prints NAME's CPU microseconds per write.
us_per() { awk -v n="$1" -v t="$2" -v w="$3" -v hz="$hz" 'BEGIN {printf "  %-22s %6.0f us/write\n", n, t * 1e6 / hz / w}'; }
# summary TOTAL_TICKS WRITES MEASURED_RATE
summary() {
  awk -v t="$1" -v w="$2" -v r="$3" -v hz="$hz" -v c="$cores" 'BEGIN {
    us = t * 1e6 / hz / w
    printf "  %-22s %6.0f us/write: %d cores allow %.0f writes/s; measured %.0f/s\n", "all", us, c, c * 1e6 / us, r }'
}

start_nats_cluster 3
declare -A t0

# alone LABEL CLIENT_LABEL COMMAND...: runs COMMAND, a client of the stream that prints
# "R writes/s (N writes in ...)", and prints each server's and the client's CPU per write.
alone() {
  local label="$1" client="$2" p d total=0 writes rate client_ticks
  shift 2
  for p in "${nats_pids[@]}"; do t0[$p]=$(ticks "$p"); done
  # The client's user and system time: `times` in its subshell, once it has ended.
  ("$@" >"$work/alone.out"
    times >"$work/alone.times")
  cat "$work/alone.out"
  writes=$(sed -n 's/.*(\([0-9]*\) writes in.*/\1/p' "$work/alone.out" | head -1)
  rate=$(sed -n 's/.*: \([0-9]*\) writes\/s.*/\1/p' "$work/alone.out" | head -1)
  echo "$label, $writes writes:"
  for p in "${nats_pids[@]}"; do
    d=$(($(ticks "$p") - t0[$p]))
    total=$((total + d))
    us_per "nats-server $p" "$d" "$writes"
  done
  # Second line of `times`: the children's "XmY.YYYs XmY.YYYs" (user, system).
  client_ticks=$(sed -n 2p "$work/alone.times" | tr 'ms' '  ' |
    awk -v hz="$hz" '{printf "%.0f", ($1 * 60 + $2 + $3 * 60 + $4) * hz}')
  total=$((total + client_ticks))
  us_per "$client" "$client_ticks" "$writes"
  summary "$total" "$writes" "$rate"
}

# 0. The stream alone; 1. the log alone.
alone "stream alone" client "$root/build/bench/bench_stream_alone" "$nats_urls" ALONE 3 32 "$seconds" 350
alone "log alone" "client (+ follower)" "$root/build/bench/bench_cluster_log" "$nats_urls" 32 32 "$seconds"

# 2. Creates through two nodes.
start_two_nodes
warm_two_nodes
procs=("$a_pid" "$b_pid" "${nats_pids[@]}")
for p in "${procs[@]}"; do t0[$p]=$(ticks "$p"); done
writes=$(creates_on_two_nodes "$seconds")
rate=$(awk -v w="$writes" -v s="$seconds" 'BEGIN {printf "%.0f", w / s}')
echo "creates through two nodes, $writes creates ($rate/s), $(metric "$a_url" referrald_cluster_forwarded_total) + $(metric "$b_url" referrald_cluster_forwarded_total) forwarded in all, $(metric "$a_url" referrald_cluster_writes_beaten_total) + $(metric "$b_url" referrald_cluster_writes_beaten_total) beaten:"
total=0
for p in "${procs[@]}"; do
  d=$(($(ticks "$p") - t0[$p]))
  total=$((total + d))
  name="nats-server $p"
  [ "$p" = "$a_pid" ] && name="node a"
  [ "$p" = "$b_pid" ] && name="node b"
  us_per "$name" "$d" "$writes"
done
summary "$total" "$writes" "$rate"
echo "  (wrk's own time is not counted; nor is it in the log alone)"
