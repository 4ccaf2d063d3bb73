#!/usr/bin/env bash
# Whether this build's `referralctl attribute` answers exactly as REV's: both run on the log
# and history of `tools/dev bench attribute` (visit_log), and their outputs are compared by
# md5, byte for byte:
#   NDJSON, the rules now and at each visit's time (--time-field), VISITS records;
#   CSV, the same two ways, the first CSV_VISITS records of the log as CSV;
#   --explain, the first 300 records (each explanation is long).
# Exits 1 when an output differs, 2 when a run fails. Builds REV in Release into build-rev/
# (as against_commit does).
#   tools/dev bench same_answers [REV=HEAD~1] [VISITS=1000000] [CSV_VISITS=300000]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
rev="${1:-HEAD~1}"
visits="${2:-1000000}"
csv_visits="${3:-300000}"
build_rev "$rev"
cmake --build "$root/build-rev/build" -j "${JOBS:-2}" --target referralctl >/dev/null
visit_log "$visits"
head -n "$csv_visits" "$work/visits.ndjson" | python3 -c '
import csv, json, sys
names = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"]
w = csv.writer(sys.stdout, lineterminator="\n")
w.writerow(["event_id", "time", "referrer", "landing_url"] + ["session_" + n for n in names])
for line in sys.stdin:
    v = json.loads(line)
    s = v.get("session") or {}
    w.writerow([v["event_id"], v["time"], v.get("referrer") or "", v["landing_url"]] +
               [s.get(n) or "" for n in names])
' >"$work/visits.csv"
head -n 300 "$work/visits.ndjson" >"$work/explain.ndjson"
echo "log: $visits visits (CSV: $csv_visits); history: $(wc -l <"$work/events.ndjson") events"

# digest BINARY INPUT [ARGS...]: the md5 of what BINARY's attribute writes for INPUT.
digest() {
  local bin="$1" input="$2"
  shift 2
  "$bin" --data "$work/data" attribute --account bench --threads 2 --input "$input" \
    --output "$work/out" --quiet "$@" 2>"$work/err" || { cat "$work/err" >&2; exit 2; }
  md5sum <"$work/out" | cut -c1-32
  rm -f "$work/out"
}

differ=0
compare() {
  local label="$1"
  shift
  local ours theirs
  ours=$(digest "$root/build/referralctl" "$@") || exit 2
  theirs=$(digest "$root/build-rev/build/referralctl" "$@") || exit 2
  local verdict=same
  [ "$ours" = "$theirs" ] || { verdict=DIFFERENT; differ=1; }
  printf '%-34s this build %s  %s %s  %s\n' "$label" "$ours" "$sha" "$theirs" "$verdict"
}
compare "NDJSON, the rules now" "$work/visits.ndjson"
compare "NDJSON, --time-field" "$work/visits.ndjson" --time-field time
compare "CSV, the rules now" "$work/visits.csv" --format csv
compare "CSV, --time-field" "$work/visits.csv" --format csv --time-field time
compare "NDJSON, --explain (300)" "$work/explain.ndjson" --explain
exit "$differ"
