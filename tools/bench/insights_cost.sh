#!/usr/bin/env bash
# What insights' counting costs the resolve paths, measured inside one server of this build,
# request by request: two accounts with the same rules, one counted and one not (the account
# setting `insights`), take turns on every connection (tools/bench/alternate.lua), so both
# meet the machine in the same state — no other build's code layout, no drift between two
# runs. Each request's time in the server comes from the access log (`duration_us`, from the
# request read to its answer written).
#   1. resolve-batch: 10,000 visits per request against accounts of 10,000 mappings and
#      1,000 passthrough referrers (as against_commit; wrk -t2 -c2);
#   2. a single-visit resolve against accounts of 300 mappings and 100 passthrough referrers
#      (wrk -t2 -c2: one request at a time per connection, so that its time in the server is its own).
# Rounds swap the roles of the two accounts. The last round counts both (A/A): how far apart
# two accounts that do the same work measure — the method's own noise.
# Prints, per round and path, each account's mean time per request and the ratio
# "not counted / counted" (1.00: no cost; 0.97: counting costs 3 %).
#   tools/dev bench insights_cost [SECONDS=20] [ROUNDS=4]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
seconds="${1:-20}"
rounds="${2:-4}"
echo "$(machine)"
echo "this build: $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- . ':!tools/bench' || echo ' (with changes)')"
(cd "$root" && cmake --build build -j2 --target referrald bench_seed_account >/dev/null)
mkdir -p "$work/bodies"
"$root/build/bench/bench_seed_account" "$work/data" bench "$work/bodies" >/dev/null
"$root/build/bench/bench_seed_account" "$work/data" bench2 "$work/bodies" >/dev/null
referrald_bin="$root/build/referrald" start_referrald --access-log "$work/access.log"
pid="${pids[-1]}"
seed_read_account acme
seed_read_account acme2
auth=(-H "Authorization: Bearer $bench_key")
json=(-H 'Content-Type: application/json')
export AUTHORIZATION="Bearer $bench_key"

# counting ACCOUNT true|false
counting() {
  curl -sf -X PATCH "$referrald_url/settings?account_id=$1" "${auth[@]}" "${json[@]}" \
    -d "{\"insights\":$2}" >/dev/null
}

# alternate SECONDS BODY PATH_A PATH_B WRK_ARGS...: the two paths in turn on every connection.
alternate() {
  local s="$1" body="$2" a="$3" b="$4"
  shift 4
  BODY_FILE="$body" PATH_A="$a" PATH_B="$b" wrk -d"${s}s" "$@" \
    -s "$root/tools/bench/alternate.lua" "$referrald_url" >"$work/wrk.out"
  if grep -q "Non-2xx" "$work/wrk.out"; then
    echo "insights_cost: answers other than 2xx:" >&2
    cat "$work/wrk.out" >&2
    exit 1
  fi
}

# mean_us ROUTE ACCOUNT: the mean duration_us of the 200 answers of ROUTE for ACCOUNT in the
# access log since it was last emptied; and their number.
mean_us() {
  awk -v route="\"$1\"" -v account="\"account_id\":\"$2\"" '
    index($0, "\"route\":" route) && index($0, account) && index($0, "\"status\":200") {
      match($0, /"duration_us":[0-9]+/)
      sum += substr($0, RSTART + 14, RLENGTH - 14); n++
    }
    END {printf "%.1f %d", n ? sum / n : 0, n}' "$work/access.log"
}

# measure LABEL COUNTED NOT_COUNTED (batch accounts) COUNTED NOT_COUNTED (single accounts):
# one round of both paths; prints the round's figures and keeps the ratios.
measure() {
  local label="$1"
  : >"$work/access.log"
  alternate "$seconds" "$work/bodies/batch.json" \
    "/attribution/resolve-batch?account_id=$2" "/attribution/resolve-batch?account_id=$3" -t2 -c2
  sleep 0.5  # the access log's buffer written (it flushes as it fills and every moment)
  read -r on n_on <<<"$(mean_us /attribution/resolve-batch "$2")"
  read -r off n_off <<<"$(mean_us /attribution/resolve-batch "$3")"
  printf '  %-22s resolve-batch  %-7s %9.1f us (%5d)   %-7s %9.1f us (%5d)   %.3fx\n' \
    "$label" "$2" "$on" "$n_on" "$3" "$off" "$n_off" "$(awk -v a="$on" -v b="$off" 'BEGIN {print b / a}')"
  echo "$label batch $(awk -v a="$on" -v b="$off" 'BEGIN {print b / a}')" >>"$work/ratios"
  : >"$work/access.log"
  alternate "$seconds" "$work/visit.json" \
    "/attribution/resolve?account_id=$4" "/attribution/resolve?account_id=$5" -t2 -c2
  sleep 0.5
  read -r on n_on <<<"$(mean_us /attribution/resolve "$4")"
  read -r off n_off <<<"$(mean_us /attribution/resolve "$5")"
  printf '  %-22s single resolve %-7s %9.1f us (%5d)   %-7s %9.1f us (%5d)   %.3fx\n' \
    "$label" "$4" "$on" "$n_on" "$5" "$off" "$n_off" "$(awk -v a="$on" -v b="$off" 'BEGIN {print b / a}')"
  echo "$label single $(awk -v a="$on" -v b="$off" 'BEGIN {print b / a}')" >>"$work/ratios"
}

# The accounts loaded and the steady state reached.
alternate 3 "$work/bodies/batch.json" "/attribution/resolve-batch?account_id=bench" \
  "/attribution/resolve-batch?account_id=bench2" -t2 -c2
alternate 2 "$work/visit.json" "/attribution/resolve?account_id=acme" \
  "/attribution/resolve?account_id=acme2" -t2 -c2
echo "mean time in the server per request, counted account first; ratio = not counted / counted"
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) = 1 ]; then
    counting bench true; counting acme true; counting bench2 false; counting acme2 false
    measure "round $r" bench bench2 acme acme2
  else
    counting bench false; counting acme false; counting bench2 true; counting acme2 true
    measure "round $r" bench2 bench acme2 acme
  fi
done
counting bench true; counting acme true; counting bench2 true; counting acme2 true
measure "A/A, both counted" bench bench2 acme acme2
kill "$pid"
wait "$pid" 2>/dev/null || true
grep '^round' "$work/ratios" | awk '
  $3 == "batch" {b += $4; nb++} $3 == "single" {s += $4; ns++}
  END {printf "mean of the rounds: resolve-batch %.3fx, single resolve %.3fx (not counted / counted)\n", b / nb, s / ns}'
