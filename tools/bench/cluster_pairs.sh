#!/usr/bin/env bash
# Cluster creates of this build against another commit's, in many short pairs: each window
# is a cluster made anew (three local NATS servers, two nodes a and b of one build), the same
# load as `tools/dev bench cluster` (16 clients on each node over the same 32 accounts, about
# half of them forwarded to their owner), laid out the same way every time (node a's client
# on server n2, node b's on n3, the event stream led by n1: a write crosses the same routes in
# every window). Which build goes first alternates. Each window: creates/s, both nodes' CPU
# and context switches per create (perf stat of the two processes over the load) and the
# three NATS servers' CPU per create (perf stat of theirs). Then, over
# the pairs: each figure's mean for both builds, the mean and median of this build's
# difference, and in how many pairs this build's figure was the better.
# Clusters differ from one another by more than a change of a node moves a write; the
# differences are taken within each pair, whose two windows are a minute apart at most.
# Builds REV (default HEAD~1) into build-rev/ as against_commit does.
#   tools/dev bench cluster_pairs [REV=HEAD~1] [PAIRS=6] [SECONDS=6]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
rev="${1:-HEAD~1}"
pairs="${2:-6}"
seconds="${3:-6}"
build_rev "$rev"
declare -A bin=([this]="$root/build/referrald" [rev]="$root/build-rev/build/referrald")
clusters=0

# window PAIR BUILD: one window on a fresh cluster of BUILD's nodes; a line "PAIR BUILD rate
# cpu switches" into $work/pairs.
window() {
  local servers p creates
  clusters=$((clusters + 1))
  NATS_PORT_BASE=$((14221 + 10 * clusters)) start_nats_cluster 3
  IFS=, read -ra servers <<<"$nats_urls"
  rm -rf "$work/a" "$work/b"
  referrald_bin="${bin[$2]}" start_two_nodes "${servers[1]}" "${servers[2]}"
  lead_event_stream 1
  warm_two_nodes
  perf stat -x, -e task-clock,context-switches -p "$a_pid,$b_pid" -o "$work/stat" \
    -- sleep "$seconds" 2>/dev/null &
  local stat=$!
  counted "${nats_pids[@]}"
  creates=$(creates_on_two_nodes "$seconds")
  wait "$stat" "${counting[@]}" || true
  local nats_cpu
  nats_cpu=$(counted_cpu "${nats_pids[@]}" -- "$creates")
  awk -F, -v p="$1" -v b="$2" -v c="$creates" -v s="$seconds" -v n="$nats_cpu" '
    /task-clock/ {cpu = $1 * 1000 / c} /context-switches/ {sw = $1 / c}
    END {printf "%s %s %.0f %.1f %.2f %s\n", p, b, c / s, cpu, sw, n}' "$work/stat" >>"$work/pairs"
  stop_node "$a_pid"
  stop_node "$b_pid"
  for p in "${nats_pids[@]}"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$work/nats"
}
alternate_pairs "$pairs" '  pair %s, %-4s %6d creates/s, %5.1f us CPU, %.2f switches per create (nodes a + b); NATS servers %3d us CPU per create\n'
pairs_summary "$work/pairs" "3:1:creates/s" "4:0:us CPU per create" "5:0:switches per create" \
  "6:0:NATS us per create"
