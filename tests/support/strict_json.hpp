#pragma once

// A strict RFC 8259 checker for what the server sends, sharing no code with the parser the
// server uses: one JSON value with optional whitespace around it; no raw control character
// (U+0000-U+001F) inside a string; only the escapes the grammar lists, \u with four hex
// digits and surrogate escapes in pairs (I-JSON, RFC 7493); numbers in the grammar's form
// (no leading zeros, no bare '.', no NaN or Infinity); well-formed UTF-8 (no overlongs,
// surrogates or code points past U+10FFFF); unique member names in every object (I-JSON).
// What Python's json, Go's encoding/json and browsers' JSON.parse all take, and more strictly.

#include <string>
#include <string_view>

namespace referrald::testing {

// "" when `text` is one valid JSON text, else "byte N: what is wrong".
std::string rfc8259_problem(std::string_view text);

}  // namespace referrald::testing
