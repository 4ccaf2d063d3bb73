#!/usr/bin/env bash
# Durable creates per second over HTTP with 32 concurrent clients (every create is an
# fsynced event before its 201), side by side with the disk's limit: 32 threads doing
# synced RocksDB puts of the same size into the same file system.
#   tools/dev bench creates_vs_synced_puts [SECONDS=10]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
seconds="${1:-10}"
echo "$(machine)"
"$root/build/bench/bench_synced_puts" "$work/limit" 32 "$seconds" 420
rm -rf "$work/limit"
for accounts in 1 32; do
  rm -rf "$work/data"
  start_referrald
  sleep 0.2
  result=$(ACCOUNTS=$accounts wrk_summary -t2 -c32 -d"${seconds}s" \
    -H "Authorization: Bearer $bench_key" -s "$root/tools/bench/create.lua" "$referrald_url")
  commits=$(curl -s "$referrald_url/metrics" | awk '/^referrald_store_commits_total/ {print $2}')
  events=$(curl -s "$referrald_url/metrics" | awk '/^referrald_events_appended_total/ {print $2}')
  echo "referrald creates (32 clients, $accounts account(s)): $result; $events events in $commits fsyncs"
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
done
