#!/usr/bin/env bash
# Where a resolve-batch's CPU goes on this machine, this build against another commit's
# (built as against_commit does): the batch of against_commit (10,000 visits against 10,000
# mappings and 1,000 passthrough referrers, wrk -t2 -c2), each build's server measured in
# turn, with the CPU of the server's process (perf stat task-clock, all threads, user and
# kernel) and of wrk (the client, on the same cores) per batch, and the visits per second.
# With both cores busy, the ratio of the rates follows the CPU both processes spend per batch:
#   rate ratio = (server_rev + client_rev) / (server_this + client_this)
# and the client's part grows with the answer's size, which each build's answer fields set.
#   tools/dev bench batch_cpu [REV=HEAD~1] [SECONDS=8] [ROUNDS=3]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
rev="${1:-HEAD~1}"
seconds="${2:-8}"
rounds="${3:-3}"
build_rev "$rev"
mkdir -p "$work/bodies"
seed_batch_account "$work/seed" "$work/bodies"
auth=(-H "Authorization: Bearer $bench_key")

# measure BINARY LABEL: one round on a fresh copy of the seeded store.
measure() {
  rm -rf "$work/data"
  cp -r "$work/seed" "$work/data"
  referrald_bin="$1" start_referrald
  local pid="${pids[-1]}"
  curl -sf -X POST "$referrald_url/attribution/resolve?account_id=bench" "${auth[@]}" \
    -H 'Content-Type: application/json' --data-binary @"$work/bodies/visit.json" >/dev/null
  local url="$referrald_url/attribution/resolve-batch?account_id=bench"
  local bytes
  bytes=$(curl -sf -X POST "$url" "${auth[@]}" -H 'Content-Type: application/json' \
    --data-binary @"$work/bodies/batch.json" | wc -c)
  BODY_FILE="$work/bodies/batch.json" wrk -t2 -c2 -d1s "${auth[@]}" \
    -s "$root/tools/bench/post_file.lua" "$url" >/dev/null  # the steady state first
  perf stat -e task-clock -p "$pid" -o "$work/server.stat" -- sleep "$seconds" &
  local stat_pid=$!
  BODY_FILE="$work/bodies/batch.json" perf stat -e task-clock -o "$work/client.stat" -- \
    wrk -t2 -c2 -d"${seconds}s" "${auth[@]}" -s "$root/tools/bench/post_file.lua" "$url" \
    >"$work/wrk.out"
  wait "$stat_pid"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  if grep -q "Non-2xx" "$work/wrk.out"; then
    echo "batch_cpu: answers other than 2xx:" >&2
    cat "$work/wrk.out" >&2
    exit 1
  fi
  local n server client
  n=$(awk '/requests in/ {print $1}' "$work/wrk.out")
  server=$(awk -v n="$n" '/task-clock/ {gsub(",", "", $1); printf "%.2f", $1 / n}' "$work/server.stat")
  client=$(awk -v n="$n" '/task-clock/ {gsub(",", "", $1); printf "%.2f", $1 / n}' "$work/client.stat")
  printf '%-10s %8.0f visits/s  server %6s ms  client %6s ms of CPU per batch  answer %s bytes\n' \
    "$2" "$(awk -v n="$n" -v s="$seconds" 'BEGIN {print n * 10000 / s}')" "$server" "$client" "$bytes"
  echo "$2 $n $server $client $bytes" >>"$work/rounds"
}
: >"$work/rounds"
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) = 1 ]; then
    measure "$root/build-rev/build/referrald" "$sha"
    measure "$root/build/referrald" "this"
  else
    measure "$root/build/referrald" "this"
    measure "$root/build-rev/build/referrald" "$sha"
  fi
done
awk -v rev="$sha" '{n[$1] += $2; s[$1] += $3; c[$1] += $4; b[$1] = $5; k[$1]++}
  END {
    ms = s["this"] / k["this"]; mr = s[rev] / k[rev]; ct = c["this"] / k["this"]; cr = c[rev] / k[rev]
    printf "means: server %.2f ms (this build) against %.2f ms (%s): %.2fx less CPU per batch\n", ms, mr, rev, mr / ms
    printf "       client %.2f ms against %.2f ms per batch, for answers of %d against %d bytes\n", ct, cr, b["this"], b[rev]
    printf "       visits/s %.2fx; (server + client of %s) / (server + client of this build) = %.2fx\n",
      n["this"] / n[rev], rev, (mr + cr) / (ms + ct)
    printf "       a rate of 1.5x would need this build'\''s server at %.2f ms per batch\n", (mr + cr) / 1.5 - ct
  }' "$work/rounds"
