#!/usr/bin/env bash
# Every request of the documentation's examples, and every answer, conforms to the OpenAPI
# document, as an independent validator sees them.
#
#   prism_test.sh REFERRALD SOURCE_DIR DOC.md...
#
# A fresh server runs behind Stoplight Prism (tools/npm, installed by tools/dev with npm ci)
# in proxy mode: Prism forwards each request to the server and checks the request (path,
# query, headers, body) and the answer (status, declared headers, media type, body) against
# docs/openapi.json. readme_examples.sh runs the curl examples of DOC.md... (in that order)
# against the proxy.
# The test fails on any violation Prism reports (each listed with its method, path and
# status), on an error of Prism's own, when Prism stops, when an example fails, or when
# Prism checked fewer than 20 requests.
set -euo pipefail

server="${1:?usage: prism_test.sh REFERRALD SOURCE_DIR DOC.md...}"
src="${2:?usage: prism_test.sh REFERRALD SOURCE_DIR DOC.md...}"
shift 2
[ $# -gt 0 ] || { echo "usage: prism_test.sh REFERRALD SOURCE_DIR DOC.md..." >&2; exit 2; }
tools="$src/tools/npm/node_modules"
[ -x "$tools/.bin/prism" ] || { echo "prism_test: $tools is missing: run tools/dev test" >&2; exit 1; }

source "$src/tests/support/server.sh"
make_work_dir
prism_pid=""
stop_prism() {
  if [ -n "$prism_pid" ]; then
    kill -TERM "$prism_pid" 2>/dev/null || true
    wait "$prism_pid" 2>/dev/null || true
    prism_pid=""
  fi
}
trap 'stop_prism; stop_and_clean' EXIT

start_server "$server"

# Prism on a port of its choosing on 127.0.0.1 (within 60 s), with a copy of the document (it
# restarts, on another port, when its document changes). --errors=false: every answer is
# passed on as the server gave it, so that every example runs, and each violation is only
# logged. --cors=false: no CORS headers of Prism's own, and OPTIONS goes to the server.
cp "$src/docs/openapi.json" "$work/openapi.json"
# The log exists before Prism starts: the background job opens it in its own process, which
# may not have run yet when the loop below first reads it.
: >"$work/prism.log"
FORCE_COLOR=0 "$tools/.bin/prism" proxy --host 127.0.0.1 --port 0 --errors=false --cors=false \
  "$work/openapi.json" "http://127.0.0.1:$port" >"$work/prism.log" 2>&1 &
prism_pid=$!
proxy_port=""
for _ in $(seq 1 600); do
  proxy_port="$(sed -n 's#.*Prism is listening on http://127\.0\.0\.1:\([0-9]*\)$#\1#p' \
    "$work/prism.log")"
  [ -n "$proxy_port" ] && break
  kill -0 "$prism_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$proxy_port" ] || {
  cat "$work/prism.log" >&2
  echo "prism_test: Prism did not start, or not within 60 s" >&2
  exit 1
}

# readme_examples.sh's server: it reports the proxy's address and the admin key of the server
# behind it, and runs until readme_examples.sh stops it.
cat >"$work/behind-prism" <<EOF
#!/bin/sh
echo "listening on 127.0.0.1:$proxy_port"
echo "  $key"
exec sleep 600
EOF
chmod +x "$work/behind-prism"

examples_ok=true
env -u README_ANSWERS timeout 300 bash "$src/tests/readme/readme_examples.sh" "$work/behind-prism" \
  "$@" 2>"$work/examples.err" >/dev/null || examples_ok=false

prism_alive=true
kill -0 "$prism_pid" 2>/dev/null || prism_alive=false

# Each violation as "METHOD PATH STATUS: LEVEL: LOCATION MESSAGE" in $work/violations; the
# number of requests Prism checked, then the last one, in $work/checked. Prism's log has,
# per request (the examples run one at a time), "[HTTP SERVER] METHOD PATH ... Request
# received", "[PROXY] ... has returned STATUS", then per violation "[VALIDATOR] ... LEVEL
# Violation: LOCATION MESSAGE", or "Request terminated with error: ..." when Prism itself
# failed the request.
awk -v count="$work/checked" '
  / \[HTTP SERVER\] [a-z]+ [^ ]+ .* Request received$/ {
    checked++
    request = $0
    sub(/.* \[HTTP SERVER\] /, "", request)
    sub(/ [^ ]+ +info +Request received$/, "", request)
    split(request, parts, " ")
    request = toupper(parts[1]) " " parts[2]
    status = "(no answer)"
    next
  }
  / \[PROXY\] .* The upstream call to [^ ]+ has returned [0-9]+$/ { status = $NF; next }
  / \[VALIDATOR\] .* Violation: / {
    level = $0; sub(/ +Violation: .*/, "", level); sub(/.* /, "", level)
    message = $0; sub(/.* Violation: /, "", message)
    print request " " status ": " level ": " message
    next
  }
  / Request terminated with error: / {
    message = $0; sub(/.* Request terminated with error: /, "", message)
    print request " " status ": prism: " message
  }
  END { print checked + 0 " " request " " status > count }
' "$work/prism.log" >"$work/violations"
read -r checked last_request <"$work/checked"
# An operation marked x-items-checked-one-by-one (a push, a batch) answers 200 to a body with
# bad items and reports each of them in its answer: request-body violations of such a 200
# are what the document announces, as tests/support/contract.cpp also takes them.
one_by_one="$(node -e '
  const doc = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  for (const [path, item] of Object.entries(doc.paths))
    for (const [verb, op] of Object.entries(item))
      if (op["x-items-checked-one-by-one"])
        console.log(verb.toUpperCase() + " ^" + path.replace(/\{[^}]+\}/g, "[^/]+") + "$");
' "$work/openapi.json")"
awk -v ops="$one_by_one" '
  BEGIN {
    n = split(ops, lines, "\n")
    for (i = 1; i <= n; i++) { split(lines[i], f, " "); verb[i] = f[1]; re[i] = f[2] }
  }
  $3 == "200:" && $5 ~ /^request\.body/ { for (i = 1; i <= n; i++) if ($1 == verb[i] && $2 ~ re[i]) next }
  { print }
' "$work/violations" >"$work/violations.kept"
mv "$work/violations.kept" "$work/violations"
violations="$(wc -l <"$work/violations")"

echo "prism_test: Prism checked $checked requests and their answers; violations: $violations" >&2
failed=false
if [ "$violations" -gt 0 ]; then
  echo "prism_test: METHOD PATH STATUS: LEVEL: LOCATION MESSAGE of each violation:" >&2
  cat "$work/violations" >&2
  failed=true
fi
if ! $prism_alive; then
  echo "prism_test: Prism stopped while the examples ran, at $last_request; its last lines:" >&2
  tail -n 30 "$work/prism.log" >&2
  failed=true
fi
if ! $examples_ok; then
  echo "prism_test: the examples failed through the proxy:" >&2
  tail -n 20 "$work/examples.err" >&2
  failed=true
fi
if [ "$checked" -lt 20 ]; then
  echo "prism_test: Prism checked fewer than 20 requests" >&2
  failed=true
fi
if $failed; then exit 1; fi
