#!/usr/bin/env bash
# /metrics after a varied load passes `promtool check metrics` (Prometheus's own linter of
# the text exposition format), and holds every metric an operator needs, the histograms of
# what the load did with observations in them; and docs/grafana-dashboard.json uses only them.
#
#   promtool_test.sh REFERRALD PROMTOOL SOURCE_DIR
set -euo pipefail

server="${1:?usage: promtool_test.sh REFERRALD PROMTOOL SOURCE_DIR}"
promtool="${2:?usage: promtool_test.sh REFERRALD PROMTOOL SOURCE_DIR}"
src="${3:?usage: promtool_test.sh REFERRALD PROMTOOL SOURCE_DIR}"
[ -x "$promtool" ] || { echo "promtool_test: no $promtool: run tools/dev test" >&2; exit 1; }

source "$src/tests/support/server.sh"
make_work_dir
# A snapshot every 2 events, so that the load writes some.
start_server "$server" --snapshot-every 2

base="http://127.0.0.1:$port"
call() { # METHOD PATH [BODY] [CONTENT-TYPE]: the status, appended to $work/statuses
  local method="$1" path="$2" body="${3:-}" type="${4:-application/json}"
  local args=(-s -o /dev/null -w '%{http_code}\n' -X "$method" -H "Authorization: Bearer $key")
  [ -z "$body" ] || args+=(-H "Content-Type: $type" --data-binary "$body")
  curl "${args[@]}" "$base$path" >>"$work/statuses"
}

# Rules: creates, a patch, a delete, reads, an export and a CSV import.
for i in 1 2 3 4 5; do
  call POST "/passthrough-referrers?account_id=acme" "{\"domain\":\"pay$i.example.com\",\"utm_source\":\"pay$i\"}"
  call POST "/referrer-mappings?account_id=acme" "{\"referrer_pattern\":\"partner$i.com\",\"match_type\":\"ends_with\",\"utm_source\":\"p$i\"}"
done
call PATCH "/passthrough-referrers/1?account_id=acme" '{"is_active":false}'
call DELETE "/referrer-mappings/2?account_id=acme"
call GET "/passthrough-referrers?account_id=acme&include_inactive=true&limit=2"
call GET "/referrer-mappings/1?account_id=acme"
call GET "/referrer-mappings/export?account_id=acme&format=csv"
call POST "/referrer-mappings/import?account_id=beta&mode=upsert" \
  $'referrer_pattern,match_type,utm_source\nnews.example,exact,news\n' text/csv
# Resolutions: one, a batch with the explanation, one in the past.
call POST "/attribution/resolve?account_id=acme" '{"referrer":"https://www.partner3.com/x","landing_url":"https://hotel.example/"}'
call POST "/attribution/resolve-batch?account_id=acme&explain=true" \
  '{"visits":[{"referrer":"https://chatgpt.com/","landing_url":"https://h.example/"},{"landing_url":"https://h.example/?gclid=1"}]}'
call POST "/attribution/resolve?account_id=acme&as_of=2020-01-01T00:00:00Z" '{"landing_url":"https://h.example/"}'
# AI referrals: a connection, a push, a report.
conn="$(curl -s -X POST -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -d '{"name":"GA4","source_tool":"ga4"}' "$base/42/ai-referrals/connections" |
  sed -n 's/.*"id":"\([0-9A-Z]*\)".*/\1/p')"
[ -n "$conn" ] || { echo "promtool_test: no connection created" >&2; exit 1; }
call POST "/42/ai-referrals/connections/$conn/events" \
  '[{"date":"2026-11-20","raw_referrer_value":"chatgpt.com","raw_page_value":"/a","sessions":2},{"date":"bad","raw_referrer_value":"x","raw_page_value":"/b"}]'
call GET "/42/ai-referrals/report?from=2026-11-01&to=2026-11-30&group_by=platform"
# A backup, and some errors.
call POST /admin/snapshots
call GET "/passthrough-referrers/999?account_id=acme"
call GET "/passthrough-referrers?account_id=acme&colour=red"
curl -s -o /dev/null "$base/api-keys"

grep -q '^2' "$work/statuses" || { echo "promtool_test: no request succeeded" >&2; exit 1; }
if grep -q '^5' "$work/statuses"; then
  echo "promtool_test: a server error during the load: $(sort "$work/statuses" | uniq -c)" >&2
  exit 1
fi

curl -sf "$base/metrics" >"$work/metrics"
if ! "$promtool" check metrics <"$work/metrics" >"$work/lint" 2>&1 || [ -s "$work/lint" ]; then
  echo "promtool_test: promtool check metrics found problems:" >&2
  cat "$work/lint" >&2
  exit 1
fi

fail=0
need() { # NAME: a sample of NAME exists
  grep -qE "^$1(\{| )" "$work/metrics" || { echo "promtool_test: no $1" >&2; fail=1; }
}
observed() { # HISTOGRAM: its _count (summed over its labels) is above 0
  local n
  n="$(awk -v m="$1_count" '$1 == m || index($1, m "{") == 1 { s += $2 } END { print s + 0 }' "$work/metrics")"
  [ "$n" -gt 0 ] || { echo "promtool_test: $1 observed nothing" >&2; fail=1; }
}
for m in process_cpu_seconds_total process_resident_memory_bytes process_open_fds \
  process_max_fds process_start_time_seconds process_virtual_memory_bytes \
  referrald_build_info referrald_http_requests_in_flight referrald_http_requests_total \
  referrald_store_commit_queue_depth referrald_ingest_queue_depth referrald_account_actors \
  referrald_rocksdb_live_sst_bytes referrald_rocksdb_memtable_bytes \
  referrald_rocksdb_pending_compaction_bytes referrald_rocksdb_stall_seconds_total \
  referrald_rocksdb_write_stopped referrald_store_writable referrald_store_free_bytes; do
  need "$m"
done
for h in referrald_http_request_duration_seconds referrald_http_request_size_bytes \
  referrald_http_response_size_bytes referrald_store_commit_seconds referrald_store_fsync_seconds \
  referrald_store_commit_group_size referrald_account_load_seconds \
  referrald_snapshot_write_seconds referrald_backup_seconds; do
  observed "$h"
done
[ "$fail" -eq 0 ] || exit 1
# The Grafana dashboard uses only metrics this scrape has (the cluster gauges aside), and
# promtool parses every one of its expressions.
python3 "$src/tests/metrics/dashboard_check.py" "$src/docs/grafana-dashboard.json" \
  "$work/metrics" "$promtool"
echo "promtool_test: $(grep -c '^# TYPE' "$work/metrics") metrics pass promtool after $(wc -l <"$work/statuses") requests" >&2
