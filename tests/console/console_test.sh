#!/usr/bin/env bash
# The console (/console/) in a headless Chromium against a fresh server: the steps of
# tests/console/console_test.mjs (puppeteer-core driving Debian's /usr/bin/chromium, axe-core
# for accessibility; screenshots in build/console-screenshots, or $CONSOLE_SCREENSHOTS).
#
#   console_test.sh REFERRALD SOURCE_DIR
#
# Chromium comes from Debian's chromium package, the Node packages from tools/npm (pinned by
# its lockfile): both installed by tools/dev test. 300 s at most (the test stops the server
# and the browser itself on SIGTERM; SIGKILL 10 s later if it has not).
set -euo pipefail

server="${1:?usage: console_test.sh REFERRALD SOURCE_DIR}"
src="${2:?usage: console_test.sh REFERRALD SOURCE_DIR}"
tools="$src/tools/npm/node_modules"

[ -x /usr/bin/chromium ] || {
  echo "console_test: /usr/bin/chromium is missing (Debian's chromium package): run tools/dev test" >&2
  exit 1
}
for p in puppeteer-core axe-core; do
  [ -f "$tools/$p/package.json" ] || {
    echo "console_test: $tools/$p is missing: run tools/dev test" >&2
    exit 1
  }
done
command -v node >/dev/null 2>&1 || { echo "console_test: node is missing: run tools/dev test" >&2; exit 1; }
[ -x "$server" ] || { echo "console_test: $server is not an executable" >&2; exit 1; }

server="$(cd "$(dirname "$server")" && pwd)/$(basename "$server")"
cd "$src"
exec timeout -k 10 300 node tests/console/console_test.mjs "$server"
