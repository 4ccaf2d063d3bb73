#!/usr/bin/env bash
# In-process mapping-index lookups on one core, 10,000 mappings, vs the naive scan.
#   tools/dev bench engine [SECONDS_PER_RUN=3]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(date -u +%Y-%m-%d)"
# One core: pin to CPU 0 when taskset is available.
if command -v taskset >/dev/null 2>&1; then
  exec taskset -c 0 "$root/build/bench/bench_engine" "${1:-3}"
fi
exec "$root/build/bench/bench_engine" "${1:-3}"
