#!/usr/bin/env bash
# `tools/dev run` stopped by a signal stops the server: the script execs build/referrald, so a
# SIGTERM sent to the script (by kill, by timeout(1), by a supervisor) reaches the server and
# nothing is left running in the background.
#
#   run_test.sh SOURCE_DIR
set -euo pipefail

src="${1:?usage: run_test.sh SOURCE_DIR}"
work="$(mktemp -d "${TMPDIR:-/tmp}/referrald-dev-run-XXXXXX")"
pid=""
cleanup() {
  [ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Server processes still running on this test's data directory (their command line names it).
left_running() {
  local p
  for p in $(pgrep -f -- "--data $work/" || true); do
    [ "$p" = "$$" ] || echo "$p"
  done
}

fail() {
  echo "run_test: $*" >&2
  exit 1
}

# 1. kill -TERM on the script's PID.
"$src/tools/dev" run --no-build --listen 127.0.0.1:0 --data "$work/one" --log-level warn \
  >"$work/one.out" 2>"$work/one.err" &
pid=$!
for _ in $(seq 1 100); do
  grep -q "listening on" "$work/one.out" 2>/dev/null && break
  sleep 0.1
done
grep -q "listening on" "$work/one.out" || fail "the server did not start: $(cat "$work/one.err")"
[ "$(readlink "/proc/$pid/exe")" = "$(readlink -f "$src/build/referrald")" ] ||
  fail "the script's process is not the server (it runs $(readlink "/proc/$pid/exe"))"
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
[ "$status" -eq 0 ] || fail "the server exited with $status after SIGTERM"
[ -z "$(left_running)" ] || fail "still running after SIGTERM: $(left_running)"

# 2. timeout(1), as a script or CI job bounds a run.
status=0
timeout -s TERM 3 "$src/tools/dev" run --no-build --listen 127.0.0.1:0 --data "$work/two" \
  --log-level warn >"$work/two.out" 2>"$work/two.err" || status=$?
[ "$status" -eq 124 ] || fail "timeout ended with $status, not 124: $(cat "$work/two.err")"
grep -q "listening on" "$work/two.out" || fail "the server did not start: $(cat "$work/two.err")"
sleep 0.5
[ -z "$(left_running)" ] || fail "still running after timeout(1): $(left_running)"
echo "run_test: tools/dev run stops with its server on SIGTERM and under timeout(1)" >&2
