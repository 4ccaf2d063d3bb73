#!/usr/bin/env bash
# Where a cluster create's time goes on the nodes: three local NATS servers, two nodes, and
# creates through both on the same 32 accounts (as `tools/dev bench cluster_cpu`, 16
# connections each); perf samples both nodes (all threads, user and kernel, 999 Hz) while
# the load runs and prints their top functions by self time, after each node's context
# switches per create (perf stat's context-switches of the node's process over the load),
# node a's by thread name, and node a's system calls per create by thread and call.
#   tools/dev bench cluster_profile [SECONDS=8] [TOP=30]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
seconds="${1:-8}"
top="${2:-30}"
echo "$(machine)"
echo "this build: $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- . ':!tools/bench' || echo ' (with changes)')"
start_nats_cluster 3
start_two_nodes
warm_two_nodes
perf record -q -F 999 -p "$a_pid,$b_pid" -o "$work/perf.data" -- sleep "$seconds" 2>/dev/null &
perf_pid=$!
calls=(read write recvfrom sendto recvmsg sendmsg readv writev epoll_wait epoll_ctl futex
  fdatasync pwrite64 sched_yield)
perf stat -x, --per-thread -e "context-switches$(printf ',syscalls:sys_enter_%s' "${calls[@]}")" \
  -p "$a_pid" -o "$work/a.stat" -- sleep "$seconds" 2>/dev/null &
stat_a=$!
perf stat -x, -e context-switches -p "$b_pid" -o "$work/b.stat" -- sleep "$seconds" 2>/dev/null &
stat_b=$!
creates=$(creates_on_two_nodes "$seconds")
wait "$perf_pid" "$stat_a" "$stat_b" || true
echo "creates through two nodes: $creates in ${seconds} s ($(awk -v c="$creates" -v s="$seconds" 'BEGIN {printf "%.0f", c / s}')/s)"
for n in a b; do
  switches=$(awk -F, '/context-switches/ {s += $2 ~ /^[0-9]+$/ ? $2 : $1} END {print s}' "$work/$n.stat")
  echo "node $n: $switches context switches, $(awk -v s="$switches" -v c="$creates" 'BEGIN {printf "%.2f", s / c}') per create (of both nodes' creates)"
done
# Node a's by thread name (its threads of one kind added up): which hand-offs wake whom.
echo "node a's context switches per create (of both nodes' creates), by thread:"
awk -F, -v c="$creates" '/context-switches/ {
    name = $1; sub(/-[0-9]+$/, "", name); gsub(/[0-9]+$/, "#", name); n[name] += $2
  }
  END {for (k in n) if (n[k] / c >= 0.01) printf "  %-24s %.2f\n", k, n[k] / c}' "$work/a.stat" | sort -k2 -rn
# The system calls behind them: each thread's sleeps (epoll_wait, futex), the wake-ups it
# sends (futex, epoll_ctl: a post to another thread's loop) and its socket and disk calls.
echo "node a's system calls per create (of both nodes' creates), by thread:"
awk -F, -v c="$creates" '$4 ~ /sys_enter_/ {
    name = $1; sub(/-[0-9]+$/, "", name); gsub(/[0-9]+$/, "#", name)
    call = $4; sub(/.*sys_enter_/, "", call); n[name] += $2; k[name "/" call] += $2; all += $2
  }
  END {
    printf "  %-24s %.2f\n", "(all)", all / c
    for (t in n) {
      if (n[t] / c < 0.01) continue
      line = ""
      for (x in k) if (index(x, t "/") == 1 && k[x] / c >= 0.01)
        line = line sprintf(" %s %.2f", substr(x, length(t) + 2), k[x] / c)
      printf "  %-24s %.2f:%s\n", t, n[t] / c, line
    }
  }' "$work/a.stat" | sort -k2 -rn
echo "both nodes' samples by thread (share of both nodes' samples):"
perf report -i "$work/perf.data" --no-children --sort pid,comm --stdio 2>/dev/null |
  grep -v '^#' | grep -v '^$' | head -n 24
echo "both nodes' samples by function (self time):"
perf report -i "$work/perf.data" --no-children --sort sym --stdio 2>/dev/null |
  grep -v '^#' | grep -v '^$' | head -n "$top"
