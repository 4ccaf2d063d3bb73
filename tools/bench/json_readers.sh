#!/usr/bin/env bash
# simdjson's On-Demand API (Debian's libsimdjson-dev) against the in-house one-pass scanner
# (domain/base/json_scan.hpp) on one resolve-batch body of 10,000 visits, on one core: the
# JSON reading alone, and each reader's whole way to the visits (tools/bench/json_readers.cpp).
#   tools/dev bench json_readers [ITERATIONS=300]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
iterations="${1:-300}"
[ -x "$root/build/bench/bench_json_readers" ] || {
  echo "json_readers: build/bench/bench_json_readers is missing (libsimdjson-dev not found at configure time)" >&2
  exit 1
}
machine
mkdir -p "$work/bodies"
"$root/build/bench/bench_seed_account" "$work/data" bench "$work/bodies" >/dev/null
"$root/build/bench/bench_json_readers" "$work/bodies/batch.json" "$iterations"
