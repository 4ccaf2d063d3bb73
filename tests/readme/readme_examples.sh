#!/usr/bin/env bash
# Runs the README's API examples, top to bottom and in order, against a fresh server.
#
#   readme_examples.sh REFERRALD README.md
#
# Every ```sh block of the README that calls curl is run, in the order it appears, in one
# shell, as a reader following the README would: the server is started on a new data
# directory, KEY is the admin secret it prints, and 127.0.0.1:8080 / localhost:8080 are
# rewritten to the port it listens on. curl is wrapped so that a failed connection or an
# answer of 400 or more fails the test with the command and the answer: every example must
# work as written. With README_ANSWERS=FILE the answers are kept in FILE, to compare with
# the ones the README shows.
set -euo pipefail

server="${1:?usage: readme_examples.sh REFERRALD README.md}"
readme="${2:?usage: readme_examples.sh REFERRALD README.md}"

source "$(dirname "${BASH_SOURCE[0]}")/../support/server.sh"
make_work_dir
start_server "$server"

# The ```sh blocks that call curl, in order; the quick start's `export KEY=rk_...` is the
# one line a reader edits, so it is left out and KEY set here instead.
awk '
  /^```sh$/ { inblock = 1; block = ""; next }
  /^```$/ && inblock { if (block ~ /(^|\n)curl |\$\(curl /) printf "%s", block; inblock = 0; next }
  inblock && !/^export KEY=/ { block = block $0 "\n" }
' "$readme" | sed -e "s#127\.0\.0\.1:8080#127.0.0.1:$port#g" -e "s#localhost:8080#127.0.0.1:$port#g" \
  >"$work/examples.sh"

lines="$(grep -c 'curl ' "$work/examples.sh" || true)"
[ "$lines" -ge 20 ] || { echo "only $lines curl examples found in $readme" >&2; exit 1; }

cat >"$work/run.sh" <<'EOF'
set -euo pipefail
curl() {
  local out code
  if ! out="$(command curl -sS -w '\n%{http_code}' "$@")"; then
    echo "FAILED (no answer): curl $*" >&2
    exit 1
  fi
  code="${out##*$'\n'}"
  printf '%s\n' "${out%$'\n'*}"
  if [ "$code" -ge 400 ]; then
    echo "FAILED ($code): curl $*" >&2
    exit 1
  fi
}
EOF
cat "$work/examples.sh" >>"$work/run.sh"

cd "$work"
KEY="$key" bash "$work/run.sh" >"$work/answers" || {
  echo "--- answers so far:" >&2
  cat "$work/answers" >&2
  exit 1
}
[ -z "${README_ANSWERS:-}" ] || cp "$work/answers" "$README_ANSWERS"
echo "$lines curl examples of $readme answered below 400" >&2
