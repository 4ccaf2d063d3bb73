#pragma once

// A one-pass reader of a JSON object's top-level members, for hot paths that need a few
// string members of each of many small objects (the lines of a visit log) and nothing
// else: no document is built, nothing is copied, and every member is a view into the text.
//
// It reads the common case only and gives up on the rest, leaving the text to parse_json
// (json.hpp), which gives the answer or the error: scan_object() returns true only for text
// that parse_json accepts as a JSON object, and then the members it reports are that
// object's members in order. It gives up on syntax errors, on a byte order mark, on
// strings with a \u escape of a surrogate, on a number with an exponent or of more than 18
// integer digits (where the parser's limits start), and on nesting deeper than 64. Keys
// and string values are reported as written between their quotes; `escaped` says whether
// they hold a backslash escape (so the text is not the value).

#include <cstdint>
#include <string_view>
#include <vector>

namespace referrald::domain {

// Nonzero when one of the eight bytes of `x` needs a closer look inside a JSON string:
// below 0x20, '"', '\\', or 0x80 and above (part of a multi-byte sequence, to be checked as
// UTF-8). A byte after the first such byte may be reported too (a borrow); the caller
// looks byte by byte. The word-at-a-time step of every JSON string scan.
constexpr std::uint64_t json_string_bytes_to_check(std::uint64_t x) {
  constexpr std::uint64_t ones = 0x0101010101010101ull;
  constexpr std::uint64_t highs = 0x8080808080808080ull;
  auto zero_byte = [](std::uint64_t v) {
    return (v - ones) & ~v & highs;
  };
  return ((x - 0x20 * ones) | zero_byte(x ^ ('"' * ones)) | zero_byte(x ^ ('\\' * ones)) | x) &
         highs;
}

enum class json_kind : std::uint8_t { null, boolean, number, string, array, object };

struct json_member {
  std::string_view key;  // between the quotes, as written
  bool key_escaped = false;
  json_kind kind = json_kind::null;
  // A string's text between its quotes; any other value's whole text ("[1,2]", "12.5").
  std::string_view value;
  bool value_escaped = false;
};

// Reads `text` (one JSON object, whitespace around it allowed) into `members` (cleared
// first). False when it gives up; `members` then holds nothing of use.
bool scan_object(std::string_view text, std::vector<json_member>& members);

// One element of an array read by scan_member_array.
struct json_element {
  std::string_view text;  // the whole element
  // When it is an object: its top-level members, members[first, first + count).
  bool object = false;
  std::uint32_t first = 0;
  std::uint32_t count = 0;
};

// Reads `text`, a JSON object of exactly one member — `key`, written without escapes — whose
// value is an array of at most `max_elements` elements, in one pass: each element into
// `elements`, and the top-level members of each element that is an object into `members`
// (both cleared first), as scan_object of each element's text would. False for
// any other text and whenever scan_object would give up (more elements included).
bool scan_member_array(std::string_view text, std::string_view key, std::size_t max_elements,
                       std::vector<json_element>& elements, std::vector<json_member>& members);

}  // namespace referrald::domain
