# Sourced by the shell tests: a work directory, and a fresh server started in it.
#
#   make_work_dir             $work: a new temporary directory; at exit the server started
#                             by start_server (if any) is stopped and $work removed
#   start_server BINARY ARG.. starts BINARY --listen 127.0.0.1:0 --data $work/data ARG..
#                             (output in $work/out) and waits, 10 s at most, until it listens
#                             and has printed its admin key: sets $pid, $port and $key

make_work_dir() {
  work="$(mktemp -d)"
  pid=""
  trap stop_and_clean EXIT
}

stop_and_clean() {
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}

start_server() {
  local binary="$1"
  shift
  "$binary" --listen 127.0.0.1:0 --data "$work/data" "$@" >"$work/out" 2>&1 &
  pid=$!
  for _ in $(seq 1 200); do
    grep -q '^listening on ' "$work/out" && grep -q '^  rk_' "$work/out" && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/out" >&2; exit 1; }
    sleep 0.05
  done
  port="$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/out")"
  key="$(sed -n 's/^  \(rk_[A-Za-z0-9_-]*\)$/\1/p' "$work/out")"
  [ -n "$port" ] && [ -n "$key" ] || { echo "no port or key in:" >&2; cat "$work/out" >&2; exit 1; }
}
