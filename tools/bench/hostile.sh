#!/usr/bin/env bash
# What a hostile client can do to other tenants and to the server's memory, measured on
# this build and on REV (default 971ab57, before the regex work budget and the streamed
# answers' backpressure) side by side, by tools/bench/hostile.py:
#   - regex channel rules that each stay just under PCRE2's match limit (RULES of them,
#     default 10,000): the worst single resolve, another account's resolve latency under 4
#     concurrent attacks, two 8-visit NDJSON batches (default --request-timeout, 10 s);
#   - three clients that never read a 150 KB NDJSON explain batch: the server's memory over
#     20 s, and whether the answer is whole once read (--request-timeout 60 s, so that the
#     answer can still be finished).
# Each server runs alone, on loopback, with its own data directory; everything stops by itself.
#   tools/dev bench hostile [REV=971ab57] [RULES=10000]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
rev="${1:-971ab57}"
rules="${2:-10000}"
build_rev "$rev"

# measure BINARY LABEL: the measurements on fresh servers from BINARY.
measure() {
  echo "== $2"
  # The option's earlier name, which both builds read.
  referrald_bin="$1" referrald_name="$2" start_referrald --max-regex-mappings "$rules"
  python3 "$root/tools/bench/hostile.py" "$referrald_url" "$bench_key" "${pids[-1]}" "$rules" tenants
  kill "${pids[-1]}"
  wait "${pids[-1]}" 2>/dev/null || true
  referrald_bin="$1" referrald_name="$2-memory" start_referrald --request-timeout 60000
  python3 "$root/tools/bench/hostile.py" "$referrald_url" "$bench_key" "${pids[-1]}" "$rules" memory
  kill "${pids[-1]}"
  wait "${pids[-1]}" 2>/dev/null || true
}

measure "$root/build-rev/build/referrald" "$sha"
measure "$root/build/referrald" "this-build"
