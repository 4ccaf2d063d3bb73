#!/usr/bin/env bash
# Random faults under two nodes' concurrent writes on three nats-server processes whose
# links run through fault proxies (tests/cluster/partitions_test.cpp, suite
# cluster_faults_long): node a's links silent, delayed or cut, a follower NATS server
# killed or cut off, and on nats-server 2.10.23 or later the stream leader's server cut off
# or killed with SIGKILL, each for 2-5 s, then healed and checked (both nodes converge); at
# the end every acknowledged write is on both nodes with its content, no node filled a new
# copy and referralctl verify passes. Prints the faults injected by kind and the totals
# (RELIABILITY.md, "Partitions"). The server is tools/nats_server.sh's (the project's
# 2.10.27; REFERRALD_NATS_SERVER=/usr/sbin/nats-server for Debian 12's 2.9.10).
#   tools/dev bench faults [MINUTES] [SEED]     (default 10 minutes, a random seed)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$root/tools/nats_server.sh"
echo "nats-server $("$(nats_server_bin)" --version 2>/dev/null | sed 's/.* v//') ($(nats_server_bin))"
echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%F)"
export REFERRALD_FAULT_MINUTES="${1:-10}" REFERRALD_FAULT_SEED="${2:-$RANDOM}"
echo "tools/dev bench faults $REFERRALD_FAULT_MINUTES $REFERRALD_FAULT_SEED"
cd "$root/build"
# The nodes and servers log to stderr: only the test's own lines are shown.
exec ./tests/cluster/cluster_tests --log_level=message \
  --run_test=cluster_faults_long/random_faults_for_minutes_lose_nothing 2> >(grep -v '^20[0-9][0-9]-' >&2)
