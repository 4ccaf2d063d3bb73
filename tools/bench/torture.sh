#!/usr/bin/env bash
# Crash torture: CYCLES kill -9 cycles of the server under concurrent mixed writes (both
# rule families, AI pushes with batch ids), each followed by a check that every
# acknowledged write is there with its acknowledged content and by referralctl verify.
#   tools/dev bench torture [CYCLES]     (default 100)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%F)"
exec "$root/build/bench/bench_torture" --server "$root/build/referrald" \
  --ctl "$root/build/referralctl" --cycles "${1:-100}" --seed "${2:-$RANDOM}"
