#!/usr/bin/env bash
# referralctl attribute in-process, on one account's history of 11,000 rule changes (10,000
# referrer mappings and 1,000 passthrough referrers, written by bench_seed_account): visits
# per second over a generated NDJSON log, on one thread and on every core, against the
# rules now and with --time-field (each visit against the rules as they stood at its own
# time, the times spread over the whole history), written to a new file and to /dev/null.
# Loading the history is timed apart.
#   tools/dev bench attribute [VISITS=1000000]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
visits="${1:-1000000}"
echo "$(machine)"
visit_log "$visits"
ctl="$root/build/referralctl"
echo "log: $visits visits, $(wc -c <"$work/visits.ndjson") bytes; history: $(wc -l <"$work/events.ndjson") events from $first to $last"
start=$(date +%s.%N)
"$ctl" --data "$work/data" attribute --account bench --time-field time --quiet </dev/null >/dev/null
echo "loading the history for --time-field: $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.2f", e - s}') s"
# Written to a new file (the kernel's copy into fresh page-cache pages is part of the cost,
# and varies on a virtual machine), and to /dev/null (the command's own work).
for round in 1 2; do
  for threads in 1 "$(nproc)"; do
    for mode in now time; do
      for dest in file null; do
        flag=()
        [ "$mode" = time ] && flag=(--time-field time)
        out="$work/out.ndjson"
        [ "$dest" = null ] && out=/dev/null
        rm -f "$work/out.ndjson"
        line=$("$ctl" --data "$work/data" attribute --account bench "${flag[@]}" --threads "$threads" \
          --input "$work/visits.ndjson" --output "$out" 2>&1 | tail -1)
        echo "round $round, $threads thread(s), rules ${mode/time/at each visit\'s time}, to ${dest/null//dev/null}: ${line#referralctl attribute: }"
      done
    done
  done
done
