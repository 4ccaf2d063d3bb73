#!/usr/bin/env bash
# What a create costs step by step: one embedded server of this build, the same 32 clients
# over 32 accounts (create.lua, wrk -t2 -c32), three loads in each round:
#   refused  a body the request chain refuses (400, an empty domain): HTTP, the key checked,
#            the body read and validated; no actor;
#   taken    a domain every account already holds (409): the same, and the account's actor
#            asked and answering; nothing written;
#   created  a new domain each time (201): the same, and the fold, the durable write (the
#            commits' fsync) and the publish;
# and, beside them, the smallest server that makes the same requests' bodies durable (one
# thread that groups each turn's requests into one synced RocksDB batch, bench_http_puts
# grouped): what the same HTTP and the same disk cost without referrald's code.
# Each with its rate, the server's CPU and context switches per request, the share of that CPU
# spent in the kernel (its system time, from /proc) and its system calls per request, the
# client's (wrk's) CPU per request, the machine's busy share, and the server's CPU per request
# thread by thread (by the names docs/operations.md lists: http.io and the main thread, named
# as the process, run the HTTP loops; caf.multiplexer the actors' scheduler; store.commit the
# commit queue; caf.actor the detached actors). The differences between the lines are what
# each step adds, including the waits and wake-ups it brings; the kernel's share bounds what
# work on the server's own code can take off a request.
#   tools/dev bench create_steps [SECONDS=6] [ROUNDS=3]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
seconds="${1:-6}"
rounds="${2:-3}"
echo "$(machine)"
echo "build: $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet || echo ' (with uncommitted changes)')"
start_node e "$work/e"
# Every system call the server makes is counted too (a tracepoint counter: a few ns each).
counted_more=raw_syscalls:sys_enter
PREFIX=w ACCOUNTS=32 wrk -t2 -c32 -d1s -H "Authorization: Bearer $bench_key" \
  -s "$root/tools/bench/create.lua" "$e_url" >/dev/null
for a in $(seq 0 31); do
  curl -sf -o /dev/null -X POST "$e_url/passthrough-referrers?account_id=bench$a" \
    -H "Authorization: Bearer $bench_key" -H 'Content-Type: application/json' \
    -d '{"domain":"taken.bench.example","utm_source":"bench"}'
done
# The refused and taken loads' bodies, as create.lua sends them, answered once each: 400
# and 409 (wrk itself only tells 2xx answers from the rest).
body_of() {
  printf '{"domain":"%s","utm_source":"bench","utm_medium":"passthrough","service_name":"%s"}' \
    "$1" "Benchmark Service"
}
for check in "400 " "409 taken.bench.example"; do
  got=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$e_url/passthrough-referrers?account_id=bench1" \
    -H "Authorization: Bearer $bench_key" -H 'Content-Type: application/json' \
    -d "$(body_of "${check#* }")")
  if [ "$got" != "${check%% *}" ]; then
    echo "the domain '${check#* }' was answered $got, not ${check%% *}" >&2
    exit 1
  fi
done
# step LABEL STATUS ENV...: one counted load; the created load's answers must all be 2xx, the
# others' none.
step() {
  local label="$1" status="$2" before after
  shift 2
  before=$(proc_ticks "$e_pid")
  thread_ticks "$e_pid" >"$work/threads.before"
  counted_creates "$@"
  thread_ticks "$e_pid" >"$work/threads.after"
  after=$(proc_ticks "$e_pid")
  local answered
  answered=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.out")
  if [ "$status" = 201 ] && [ -n "$answered" ]; then
    echo "  $label: $answered answers were not 201" >&2
    exit 1
  fi
  if [ "$status" != 201 ] && [ "${answered:-0}" != "$requests" ]; then
    echo "  $label: ${answered:-0} of $requests answers were not 2xx, $status expected" >&2
    exit 1
  fi
  awk -v l="$label" -v c="$requests" -v s="$seconds" -v st="$status" \
    'BEGIN {printf "  %-8s (%s) %6.0f/s; ", l, st, c / s}'
  echo "server $(per_create "$e_pid" "$requests" | sed 's/create/request/')," \
    "$(echo "$before $after" | awk '{u = $3 - $1; k = $4 - $2; printf "%.0f", 100 * k / (u + k)}') %" \
    "in the kernel, $(awk -F, -v c="$requests" '/sys_enter/ {printf "%.2f", $1 / c}' \
      "$work/stat.$e_pid") system calls per request;" \
    "client $(children_us "$requests") us CPU per request; machine busy $(cat "$work/busy") %"
  echo "    by thread, user+system us per request:" \
    "$(thread_split "$work/threads.before" "$work/threads.after" "$requests")"
}
for round in $(seq 1 "$rounds"); do
  echo "round $round:"
  step refused 400 DOMAIN=
  step taken 409 DOMAIN=taken.bench.example
  step created 201 PREFIX="c$round"
  smallest_over_http "synced puts (grouped, one thread)" grouped "$work/over-http"
  rm -rf "$work/over-http"
done
stop_node "$e_pid"
