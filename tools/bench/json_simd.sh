#!/usr/bin/env bash
# What RapidJSON's SSE2 scanning is worth: the same server built with and without it
# (REFERRALD_RAPIDJSON_SIMD; the sanitizer and fuzzing builds go without, since its
# aligned 16-byte loads read past the end of a buffer), side by side, taking turns, on the
# two JSON-heavy paths: resolve-batch (10,000 visits per request, 2 connections) and
# AI-referral push (8 pushers, 5,000-row batches).
#   tools/dev bench json_simd [SECONDS=8]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
seconds="${1:-8}"
cmake -S "$root" -B "$root/build-nosimd" -DCMAKE_BUILD_TYPE=Release -DREFERRALD_RAPIDJSON_SIMD=OFF \
  $(command -v ccache >/dev/null && echo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache) >/dev/null
cmake --build "$root/build-nosimd" -j "$(nproc)" --target referrald >/dev/null
echo "$(machine)"
mkdir -p "$work/bodies"
"$root/build/bench/bench_seed_account" "$work/seeded" bench "$work/bodies"
auth=(-H "Authorization: Bearer $bench_key")
for round in 1 2; do
  for variant in sse2 plain; do
    if [ "$variant" = sse2 ]; then referrald_bin="$root/build/referrald"; else referrald_bin="$root/build-nosimd/referrald"; fi
    rm -rf "$work/data"
    cp -a "$work/seeded" "$work/data"
    start_referrald
    curl -sf -X POST "$referrald_url/attribution/resolve?account_id=bench" "${auth[@]}" \
      -H 'Content-Type: application/json' --data-binary @"$work/bodies/visit.json" >/dev/null
    out=$(BODY_FILE="$work/bodies/batch.json" wrk -t2 -c2 -d"${seconds}s" "${auth[@]}" \
      -s "$root/tools/bench/post_file.lua" "$referrald_url/attribution/resolve-batch?account_id=bench")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    echo "round $round $variant resolve-batch: $(awk -v r="$rps" 'BEGIN {printf "%.0f", r*10000}') visits/s"
    connection=$(curl -sf -X POST "$referrald_url/7/ai-referrals/connections" "${auth[@]}" \
      -H 'Content-Type: application/json' -d '{"name":"bench","source_tool":"ga4"}' |
      sed -n 's/.*"id":"\([0-9A-Z]*\)".*/\1/p')
    port="${referrald_url##*:}"
    echo "round $round $variant push: $("$root/build/bench/bench_push" http "$port" "$bench_key" 7 \
      "$connection" 8 "$seconds" 5000 0 | grep -o '[0-9.]* rows/s' | head -1)"
    kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
  done
done
