#!/usr/bin/env bash
# The OpenAPI document passes a real validator, and a client generated from it compiles and
# calls a running server.
#
#   client_test.sh REFERRALD SOURCE_DIR
#
# Tools from tools/npm (installed by tools/dev with npm ci, pinned by its lockfile):
#   redocly lint            the document is valid OpenAPI 3.1, without a warning of the
#                           recommended rules
#   openapi-typescript      types for every path, parameter, body and answer
#   tsc --strict            tests/openapi/client.mts type-checks against them
#   node + openapi-fetch    the compiled client runs against a fresh server on 127.0.0.1
set -euo pipefail

server="${1:?usage: client_test.sh REFERRALD SOURCE_DIR}"
src="${2:?usage: client_test.sh REFERRALD SOURCE_DIR}"
tools="$src/tools/npm/node_modules"
[ -x "$tools/.bin/redocly" ] || { echo "client_test: $tools is missing: run tools/dev test" >&2; exit 1; }

source "$src/tests/support/server.sh"
make_work_dir

# 1. The validator: errors fail it (exit status), and so does any warning.
"$tools/.bin/redocly" lint --format=stylish "$src/docs/openapi.json" >"$work/lint" 2>&1 || {
  cat "$work/lint" >&2
  echo "client_test: redocly lint found errors" >&2
  exit 1
}
if grep -qE 'You have [0-9]+ warning|^ +[0-9]+:[0-9]+ +warning ' "$work/lint"; then
  cat "$work/lint" >&2
  echo "client_test: redocly lint found warnings" >&2
  exit 1
fi

# docs/api.md is the document rendered by tools/api_reference.mjs.
node "$src/tools/api_reference.mjs" "$src/docs/openapi.json" >"$work/api.md"
cmp -s "$work/api.md" "$src/docs/api.md" || {
  echo "client_test: docs/api.md is stale: node tools/api_reference.mjs docs/openapi.json > docs/api.md" >&2
  exit 1
}

# 2. The generated client, compiled strictly.
"$tools/.bin/openapi-typescript" "$src/docs/openapi.json" -o "$work/api.d.ts" >/dev/null 2>&1
cp "$src/tests/openapi/client.mts" "$work/"
ln -s "$tools" "$work/node_modules"
cat >"$work/tsconfig.json" <<'JSON'
{
  "compilerOptions": {
    "strict": true, "noUncheckedIndexedAccess": true, "target": "es2022",
    "module": "nodenext", "moduleResolution": "nodenext", "skipLibCheck": false,
    "types": ["node"], "lib": ["es2022", "dom"]
  },
  "files": ["client.mts", "api.d.ts"]
}
JSON
(cd "$work" && "$tools/.bin/tsc" -p tsconfig.json) || { echo "client_test: tsc failed" >&2; exit 1; }

# 3. Against a fresh server.
start_server "$server"
(cd "$work" && timeout 60 node client.mjs "http://127.0.0.1:$port" "$key")
