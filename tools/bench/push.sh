#!/usr/bin/env bash
# Durable AI-referral ingest over HTTP: 8 concurrent pushers, 5,000-row batches, every
# batch new rows, without and with batch_id; rows/s and batch latency, side by side with
# the limit — the same rows, encoded as referrald stores them, written straight into
# RocksDB with one synced write batch per 5,000 rows. Then what reading each row record
# costs, as a cluster node reads every record before publishing it and before applying it.
#   tools/dev bench push [SECONDS=10]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
seconds="${1:-10}"
echo "$(machine)"
# The limit with one writer (each batch its own fsync, memtable inserts in order) and with
# eight (RocksDB groups their fsyncs; inserts contend): the faster one is the limit.
for writers in 1 8; do
  "$root/build/bench/bench_push" limit "$work/limit" "$writers" "$seconds" 5000
  rm -rf "$work/limit"
done
for batch_id in 0 1; do
  rm -rf "$work/data"
  start_referrald
  connection=$(curl -sf -X POST "$referrald_url/7/ai-referrals/connections" \
    -H "Authorization: Bearer $bench_key" -H 'Content-Type: application/json' \
    -d '{"name":"bench","source_tool":"ga4"}' | sed -n 's/.*"id":"\([0-9A-Z]*\)".*/\1/p')
  port="${referrald_url##*:}"
  "$root/build/bench/bench_push" http "$port" "$bench_key" 7 "$connection" 8 "$seconds" 5000 "$batch_id"
  commits=$(curl -s "$referrald_url/metrics" | awk '/^referrald_store_commits_total/ {print $2}')
  batches=$(curl -s "$referrald_url/metrics" | awk '/^referrald_store_commit_requests_total/ {print $2}')
  echo "  $batches write batches in $commits fsyncs; store after the run: $(du -sh "$work/data" | cut -f1)"
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
done
"$root/build/bench/bench_push" reads "$work/reads" 5000 50
