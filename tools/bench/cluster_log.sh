#!/usr/bin/env bash
# The cluster's event log alone, on three local NATS servers (JetStream, three replicas):
# durable one-event writes through the group-committing publisher over 32 accounts and
# over one account, 32 clients each, and the delay until another connection following
# the stream sees each write; side by side with the local disk's synced-put limit.
#   tools/dev bench cluster_log [SECONDS=10]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
seconds="${1:-10}"
echo "$(machine)"
"$root/build/bench/bench_synced_puts" "$work/limit" 32 "$seconds" 420
rm -rf "$work/limit"
start_nats_cluster 3
"$root/build/bench/bench_cluster_log" "$nats_urls" 32 32 "$seconds"
"$root/build/bench/bench_cluster_log" "$nats_urls" 1 32 "$seconds"
