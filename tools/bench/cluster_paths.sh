#!/usr/bin/env bash
# Writes through their owner and through the other node, side by side (three local NATS
# servers, three replicas, two nodes a and b):
#  1. creates, 16 clients on each node over 32 accounts: every write entering at its
#     owner, then every write entering at the other node (forwarded), then half and half
#     (as `tools/dev bench cluster`), each twice in turns; rate, p50, p99;
#  2. an import of 1,000 mappings in one request into a fresh account, through its owner
#     and through the other node, five of each in turns, the medians;
#  3. AI-referral pushes (8 pushers, 5,000-row batches) into a brand through its owner,
#     then through the other node.
# Which node owns an account or a brand is found by writing once through node a and
# reading a's referrald_cluster_forwarded_total. After each, the two nodes' CPU (user and
# system, /proc/PID/stat) per write, and the kernel's (system) share of it: per create, per
# import, per 1,000 rows pushed; and for the creates, each node's CPU per create thread by
# thread (the names docs/operations.md lists; the NATS client's unnamed threads keep the
# process's name, as does the main thread, an HTTP loop).
#   tools/dev bench cluster_paths [SECONDS=10]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
seconds="${1:-10}"
auth=(-H "Authorization: Bearer $bench_key")
json=(-H 'Content-Type: application/json')
echo "$(machine)"

start_nats_cluster 3
start_two_nodes

hz=$(getconf CLK_TCK)
# node_ticks: node a's and node b's time so far, in clock ticks: "a-user a-system b-user
# b-system".
node_ticks() { echo "$(proc_ticks "$a_pid") $(proc_ticks "$b_pid")"; }
# node_pid a|b: that node's process.
node_pid() { if [ "$1" = a ]; then echo "$a_pid"; else echo "$b_pid"; fi; }
# cpu_per T0 N UNIT: node a's and node b's CPU since the ticks T0 (node_ticks) per UNIT, of N,
# with the kernel's share of each.
cpu_per() {
  read -r au0 as0 bu0 bs0 <<<"$1"
  read -r au1 as1 bu1 bs1 <<<"$(node_ticks)"
  awk -v au="$((au1 - au0))" -v as="$((as1 - as0))" -v bu="$((bu1 - bu0))" \
    -v bs="$((bs1 - bs0))" -v n="$2" -v u="$3" -v hz="$hz" 'BEGIN {
      a = au + as; b = bu + bs
      printf "  CPU per %s: node a %.0f us (%.0f %% in the kernel), node b %.0f us (%.0f %%)\n", u,
        a * 1e6 / hz / n, a ? 100 * as / a : 0, b * 1e6 / hz / n, b ? 100 * bs / b : 0
    }'
}

# 1 ----------------------------------------------------------------------------------------
take_accounts c 16
both="$own_a,$own_b"
# creates NAME LIST_ON_A LIST_ON_B: 16 clients on each node at once.
creates() {
  local t0 n
  t0=$(node_ticks)
  for n in a b; do thread_ticks "$(node_pid $n)" >"$work/threads.$n.before"; done
  ACCOUNT_LIST="$2" PREFIX="$1a" wrk_latency -t1 -c16 -d"${seconds}s" "${auth[@]}" \
    -s "$root/tools/bench/create.lua" "$a_url" >"$work/wrk_a" &
  local on_a=$!
  ACCOUNT_LIST="$3" PREFIX="$1b" wrk_latency -t1 -c16 -d"${seconds}s" "${auth[@]}" \
    -s "$root/tools/bench/create.lua" "$b_url" >"$work/wrk_b"
  wait "$on_a"
  echo "  on a: $(cat "$work/wrk_a")"
  echo "  on b: $(cat "$work/wrk_b")"
  local rate
  rate=$(cat "$work/wrk_a" "$work/wrk_b" | awk '{s += $1} END {printf "%.0f", s}')
  echo "  total: $rate creates/s"
  cpu_per "$t0" "$((rate * seconds))" create
  for n in a b; do
    thread_ticks "$(node_pid $n)" >"$work/threads.$n.after"
    echo "  node $n by thread, user+system us per create:" \
      "$(thread_split "$work/threads.$n.before" "$work/threads.$n.after" "$((rate * seconds))")"
  done
}
for round in 1 2; do
  echo "round $round, creates entering at their owner:"
  creates "o$round" "$own_a" "$own_b"
  echo "round $round, creates entering at the other node (all forwarded):"
  creates "f$round" "$own_b" "$own_a"
  echo "round $round, creates over the same 32 accounts on both nodes (half forwarded):"
  creates "m$round" "$both" "$both"
done
for u in "$a_url" "$b_url"; do
  echo "node ${u}: forwarded $(metric "$u" referrald_cluster_forwarded_total)," \
    "fallbacks $(metric "$u" referrald_cluster_forward_fallbacks_total)," \
    "timeouts $(metric "$u" referrald_cluster_forward_timeouts_total)," \
    "beaten $(metric "$u" referrald_cluster_writes_beaten_total)"
done

# 2 ----------------------------------------------------------------------------------------
awk 'BEGIN {
  printf "{\"mode\":\"create\",\"mappings\":["
  for (i = 0; i < 1000; i++)
    printf "%s{\"referrer_pattern\":\"x%d.example.net\",\"match_type\":\"exact\",\"utm_source\":\"s%d\"}", (i ? "," : ""), i, i
  printf "]}"
}' >"$work/import.json"
take_accounts imp 5
IFS=, read -r -a imp_a <<<"$own_a"
IFS=, read -r -a imp_b <<<"$own_b"
# import URL ACCOUNT: the request's seconds.
import() {
  local answer
  answer=$(curl -s -w '\n%{time_total}' -X POST "$1/referrer-mappings/import?account_id=$2" \
    "${auth[@]}" "${json[@]}" --data-binary @"$work/import.json")
  case "$answer" in *'"created":1000'*) ;; *) echo "import failed: $answer" >&2; exit 1 ;; esac
  echo "$answer" | tail -1
}
owner_times=() other_times=() owner_ticks=0 other_ticks=0
# ticks_of T0: both nodes' ticks since T0 (node_ticks), added up.
ticks_of() {
  read -r au0 as0 bu0 bs0 <<<"$1"
  read -r au1 as1 bu1 bs1 <<<"$(node_ticks)"
  echo $((au1 - au0 + as1 - as0 + bu1 - bu0 + bs1 - bs0))
}
for i in 0 1 2 3 4; do
  t0=$(node_ticks)
  owner_times+=("$(import "$a_url" "${imp_a[i]}")")  # a owns imp_a
  owner_ticks=$((owner_ticks + $(ticks_of "$t0")))
  t0=$(node_ticks)
  other_times+=("$(import "$a_url" "${imp_b[i]}")")  # b owns imp_b: forwarded
  other_ticks=$((other_ticks + $(ticks_of "$t0")))
done
median() { printf '%s\n' "$@" | sort -n | sed -n 3p; }
# ms_per_import TICKS: both nodes' CPU per import (of five), in ms.
ms_per_import() { awk -v t="$1" -v hz="$hz" 'BEGIN {printf "%.0f", t * 1000 / hz / 5}'; }
echo "import of 1,000 mappings through the owner: median $(median "${owner_times[@]}") s (${owner_times[*]}); both nodes' CPU $(ms_per_import "$owner_ticks") ms per import"
echo "import of 1,000 mappings through the other node: median $(median "${other_times[@]}") s (${other_times[*]}); both nodes' CPU $(ms_per_import "$other_ticks") ms per import"

# 3 ----------------------------------------------------------------------------------------
brand_a="" brand_b="" conn_a="" conn_b=""
for brand in $(seq 101 140); do
  before=$(metric "$a_url" referrald_cluster_forwarded_total)
  conn=$(curl -sf -X POST "$a_url/$brand/ai-referrals/connections" "${auth[@]}" "${json[@]}" \
    -d '{"name":"bench","source_tool":"ga4"}' | sed -n 's/.*"id":"\([0-9A-Z]*\)".*/\1/p')
  after=$(metric "$a_url" referrald_cluster_forwarded_total)
  if [ "$after" = "$before" ] && [ -z "$brand_a" ]; then
    brand_a=$brand conn_a=$conn
  elif [ "$after" != "$before" ] && [ -z "$brand_b" ]; then
    brand_b=$brand conn_b=$conn
  fi
  [ -n "$brand_a" ] && [ -n "$brand_b" ] && break
done
# push BRAND CONNECTION: pushes through node a for SECONDS, and the nodes' CPU per 1,000 rows.
push() {
  local t0 out rows
  t0=$(node_ticks)
  out=$("$root/build/bench/bench_push" http "${a_url##*:}" "$bench_key" "$1" "$2" 8 "$seconds" 5000 0)
  echo "$out"
  rows=$(sed -n 's/.*: \([0-9]*\) rows\/s.*/\1/p' <<<"$out" | head -1)
  cpu_per "$t0" "$((rows * seconds / 1000))" "1,000 rows"
}
echo "AI pushes into brand $brand_a through its owner (node a):"
push "$brand_a" "$conn_a"
echo "AI pushes into brand $brand_b through the other node (node a; b owns it):"
push "$brand_b" "$conn_b"
stop_node "$a_pid"
stop_node "$b_pid"
