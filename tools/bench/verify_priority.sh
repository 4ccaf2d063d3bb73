#!/usr/bin/env bash
# What the background chain verifier takes from requests while it walks a long history: one
# embedded server with --verify-every 1s (a pass, then a second's wait, over and over), its
# 32 accounts given SEED seconds of creates first (32 clients); then, in each round, the
# same load twice, once with the verifier's thread at nice 19 (as the server runs it) and
# once renice'd to the server's priority (0): requests/s, the verifier's CPU and the accounts
# it verified over the load, and the server's CPU per request. LOAD is resolve (single-visit
# resolves of one account's rules, 64 connections: the main load of a node) or refused (a
# create the chain refuses, 400: HTTP alone), which both keep the two cores busy, or idle (no
# requests: the verifier's own pace).
#   tools/dev bench verify_priority [SECONDS=6] [ROUNDS=3] [LOAD=resolve] [SEED=20]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
seconds="${1:-6}"
rounds="${2:-3}"
load="${3:-resolve}"
seed="${4:-20}"
case "$load" in
resolve | refused | idle) ;;
*) echo "LOAD is resolve, refused or idle" >&2 && exit 2 ;;
esac
echo "$(machine)"
echo "build: $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet || echo ' (with uncommitted changes)')"
auth=(-H "Authorization: Bearer $bench_key")
start_node e "$work/e" --verify-every 1s
PREFIX=seed ACCOUNTS=32 wrk -t2 -c32 -d"${seed}s" "${auth[@]}" \
  -s "$root/tools/bench/create.lua" "$e_url" >"$work/wrk.out"
echo "seeded: $(awk '/requests in/ {print $1}' "$work/wrk.out") creates over 32 accounts"
printf '%s' '{"referrer":"https://www.news.example/story","landing_url":"https://hotel.example/rooms/1","session":null}' \
  >"$work/visit.json"
verifier=""
for t in /proc/"$e_pid"/task/*; do
  [ "$(cat "$t/comm")" = chain.verify ] && verifier="${t##*/}"
done
if [ -z "$verifier" ]; then
  echo "the server has no chain.verify thread" >&2
  exit 1
fi
# thread_cpu: the verifier thread's user + system time so far, in clock ticks.
thread_cpu() { stat_ticks "/proc/$e_pid/task/$verifier/stat" | awk '{print $1 + $2}'; }
hz=$(getconf CLK_TCK)
for round in $(seq 1 "$rounds"); do
  for nice in 19 0; do
    if ! renice -n "$nice" -p "$verifier" >/dev/null; then
      echo "cannot set the verifier's thread to nice $nice (back to 0 needs root)" >&2
      exit 1
    fi
    v0=$(thread_cpu)
    p0=$(proc_ticks "$e_pid" | awk '{print $1 + $2}')
    c0=$(metric "$e_url" referrald_chain_verified_total)
    if [ "$load" = idle ]; then
      sleep "$seconds"
      printf '%s\n' "0 requests in ${seconds}s" >"$work/wrk.out"
      expect=none
    elif [ "$load" = resolve ]; then
      BODY_FILE="$work/visit.json" wrk -t2 -c64 -d"${seconds}s" "${auth[@]}" \
        -s "$root/tools/bench/post_file.lua" "$e_url/attribution/resolve?account_id=bench1" \
        >"$work/wrk.out"
      expect=2xx
    else
      DOMAIN= ACCOUNTS=32 wrk -t2 -c32 -d"${seconds}s" "${auth[@]}" \
        -s "$root/tools/bench/create.lua" "$e_url" >"$work/wrk.out"
      expect=400
    fi
    v1=$(thread_cpu)
    p1=$(proc_ticks "$e_pid" | awk '{print $1 + $2}')
    c1=$(metric "$e_url" referrald_chain_verified_total)
    n=$(awk '/requests in/ {print $1}' "$work/wrk.out")
    bad=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.out")
    if { [ "$expect" = 2xx ] && [ -n "$bad" ]; } ||
      { [ "$expect" = 400 ] && [ "${bad:-0}" != "$n" ]; }; then
      echo "round $round: answers other than $expect (non-2xx: ${bad:-0} of $n)" >&2
      exit 1
    fi
    awk -v r="$round" -v nice="$nice" -v n="$n" -v s="$seconds" -v v="$((v1 - v0))" \
      -v c="$((c1 - c0))" -v p="$((p1 - p0))" -v hz="$hz" -v l="$load" 'BEGIN {
        printf "round %d, verifier at nice %2d: %s %.0f/s; verifier %.0f ms of CPU, %d accounts", \
          r, nice, l, n / s, v * 1000 / hz, c
        if (n > 0) printf " verified; server %.1f us CPU per request\n", p * 1e6 / hz / n
        else printf " verified; server %.0f ms of CPU\n", p * 1000 / hz
      }'
  done
done
stop_node "$e_pid"
