#!/usr/bin/env bash
# Runs the documentation's API examples, file after file and top to bottom, against a fresh
# server.
#
#   readme_examples.sh REFERRALD FILE.md...      (README.md docs/api-guide.md docs/operations.md)
#
# Every ```sh block that calls curl in the Markdown FILEs is run — the files in the order
# given, each file's blocks in the order they appear — in one shell, as a reader following
# the documentation in that order would: later examples use what earlier ones made (KEY, rule
# ids, CONN...), so README.md comes first. The server is started on a new data directory, KEY
# is the admin secret it prints, and 127.0.0.1:8080 / localhost:8080 are rewritten to the port
# it listens on. curl is wrapped so that a failed connection or an answer of 400 or more fails
# the test with the command and the answer: every example must work as written. The test also
# fails when the files hold fewer than 20 curl commands in all, or when one of them has no
# ```sh block that calls curl (a file given by mistake, or whose examples moved elsewhere).
#
# EXAMPLES_PORT=N: the examples' 127.0.0.1:8080 / localhost:8080 are rewritten to
# 127.0.0.1:N instead of the server's own port, so that the same examples can run through a
# proxy listening there in front of the server (a validating proxy, say).
# README_ANSWERS=FILE: the answers are kept in FILE, to compare with the ones the
# documentation shows.
set -euo pipefail

usage="usage: readme_examples.sh REFERRALD FILE.md..."
server="${1:?$usage}"
shift
[ "$#" -ge 1 ] || { echo "$usage" >&2; exit 2; }
docs=("$@")
for doc in "${docs[@]}"; do
  [ -f "$doc" ] || { echo "readme_examples: no file $doc" >&2; exit 2; }
done
if [ -n "${EXAMPLES_PORT:-}" ]; then
  if ! [[ "$EXAMPLES_PORT" =~ ^[1-9][0-9]{0,4}$ ]] || [ "$EXAMPLES_PORT" -gt 65535 ]; then
    echo "readme_examples: EXAMPLES_PORT is not a port: '$EXAMPLES_PORT'" >&2
    exit 2
  fi
fi

source "$(dirname "${BASH_SOURCE[0]}")/../support/server.sh"
make_work_dir
start_server "$server"
target_port="${EXAMPLES_PORT:-$port}"

# The ```sh blocks that call curl, file after file, in order; the quick start's
# `export KEY=rk_...` is the one line a reader edits, so it is left out and KEY set here
# instead. Each file must have at least one such block.
: >"$work/examples.sh"
counts=""
for doc in "${docs[@]}"; do
  awk -v blocks_file="$work/blocks" '
    /^```sh$/ { inblock = 1; block = ""; next }
    /^```$/ && inblock {
      if (block ~ /(^|\n)curl |\$\(curl /) { printf "%s", block; blocks++ }
      inblock = 0
      next
    }
    inblock && !/^export KEY=/ { block = block $0 "\n" }
    END { print blocks + 0 > blocks_file }
  ' "$doc" >"$work/doc.sh"
  [ "$(cat "$work/blocks")" -ge 1 ] ||
    { echo "readme_examples: $doc has no \`\`\`sh block that calls curl" >&2; exit 1; }
  counts="$counts${counts:+, }$doc $(grep -c 'curl ' "$work/doc.sh" || true)"
  sed -e "s#127\.0\.0\.1:8080#127.0.0.1:$target_port#g" \
    -e "s#localhost:8080#127.0.0.1:$target_port#g" "$work/doc.sh" >>"$work/examples.sh"
done

lines="$(grep -c 'curl ' "$work/examples.sh" || true)"
[ "$lines" -ge 20 ] ||
  { echo "only $lines curl examples found in ${docs[*]} ($counts)" >&2; exit 1; }

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
echo "$lines curl examples ($counts) answered below 400" >&2
