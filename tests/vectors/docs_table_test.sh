#!/usr/bin/env bash
# The golden-vector table of docs/attribution.md (section "Golden vectors") is the rendering
# of tests/vectors/attribution.json by tools/vectors_table.mjs.
#
#   docs_table_test.sh SOURCE_DIR
set -euo pipefail

src="${1:?usage: docs_table_test.sh SOURCE_DIR}"
cd "$src"
node tools/vectors_table.mjs tests/vectors/attribution.json --check docs/attribution.md
