#!/usr/bin/env bash
# The tracker snippet (/js/referrald.js) in a headless Chromium, on a test site of its own
# origins: the steps of tests/tracker/tracker_test.mjs (puppeteer-core driving Debian's
# /usr/bin/chromium, the console tests' harness).
#
#   tracker_test.sh REFERRALD SOURCE_DIR
#
# Chromium comes from Debian's chromium package, the Node packages from tools/npm (pinned by
# its lockfile): both installed by tools/dev test. 120 s at most (the test stops the server,
# the site and the browser itself on SIGTERM; SIGKILL 10 s later if it has not).
set -euo pipefail

server="${1:?usage: tracker_test.sh REFERRALD SOURCE_DIR}"
src="${2:?usage: tracker_test.sh REFERRALD SOURCE_DIR}"

[ -x /usr/bin/chromium ] || {
  echo "tracker_test: /usr/bin/chromium is missing (Debian's chromium package): run tools/dev test" >&2
  exit 1
}
[ -f "$src/tools/npm/node_modules/puppeteer-core/package.json" ] || {
  echo "tracker_test: $src/tools/npm/node_modules/puppeteer-core is missing: run tools/dev test" >&2
  exit 1
}
command -v node >/dev/null 2>&1 || { echo "tracker_test: node is missing: run tools/dev test" >&2; exit 1; }
[ -x "$server" ] || { echo "tracker_test: $server is not an executable" >&2; exit 1; }

server="$(cd "$(dirname "$server")" && pwd)/$(basename "$server")"
cd "$src"
exec timeout -k 10 120 node tests/tracker/tracker_test.mjs "$server"
