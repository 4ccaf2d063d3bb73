#pragma once

// Small text helpers shared by validation and normalization. Inputs are UTF-8; the JSON
// parser has already rejected invalid UTF-8 before any of these run on request data.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace referrald::domain {

// Removes leading and trailing whitespace: ASCII (space, \t, \n, \v, \f, \r) and Unicode
// (U+0085, U+00A0 no-break space, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F,
// U+3000 ideographic space, and U+FEFF). `s` must be valid UTF-8.
std::string_view trim(std::string_view s);

// The first character no stored text may hold, if any: a C0 or C1 control character
// (tab, newline and carriage return included), DEL, or a bidirectional override or
// isolate (U+202A-U+202E, U+2066-U+2069), which can make text display as something it
// is not, or bytes that are not UTF-8 (a lone surrogate escaped in JSON, text in another
// encoding). Returns a description ("U+0000 (a control character)") or an empty string.
std::string forbidden_character(std::string_view s);

// Replaces every byte sequence that is not UTF-8 with U+FFFD.
std::string to_valid_utf8(std::string_view s);

// Removes C0 and C1 control characters and DEL from valid UTF-8.
std::string remove_control_characters(std::string_view s);

// Number of Unicode code points in a valid UTF-8 string.
std::size_t utf8_length(std::string_view s);

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF).
bool is_valid_utf8(std::string_view s);

// The length (1-4) of the well-formed UTF-8 sequence that starts at s[i], or 0 when the
// bytes there are not one. `i` must be < s.size().
std::size_t utf8_sequence_length(std::string_view s, std::size_t i);

// A value taken from a request, as a message quotes it (warnings, error messages, logs):
// its first `max_code_points` code points, then "..." when there was more, with every byte
// sequence that is not UTF-8 replaced by U+FFFD. Attacker-chosen text echoed this way is
// bounded in length; escaping is the JSON writer's job.
std::string excerpt(std::string_view s, std::size_t max_code_points = 100);

// ASCII-only lowercase; bytes >= 0x80 are left alone.
std::string to_lower_ascii(std::string_view s);

// True when `s`, ASCII-lowercased, equals `lower` (which must be lowercase already).
bool equals_lower_ascii(std::string_view s, std::string_view lower);

// `optional` set to `value`, its storage reused when it holds a string already.
void assign_optional(std::optional<std::string>& optional, std::string_view value);

// A hash for unordered containers keyed by std::string (or std::string_view) that are
// looked up with a std::string_view, without building a string (with std::equal_to<>).
struct string_view_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

bool is_ascii(std::string_view s);

// Lowercase hexadecimal of raw bytes.
std::string to_hex(std::string_view bytes);

// "HOST:PORT" or "[V6]:PORT" split at its last colon: the host (brackets removed) and the
// port as written; nullopt when either is empty or a bracket is unmatched. The port is not
// checked to be a number.
struct host_and_port {
  std::string host;
  std::string port;
};
std::optional<host_and_port> split_host_port(std::string_view address);

// The position of the first byte of `s` equal to one of `Cs`, or npos. (The standard
// find_first_of calls memchr once per byte of `s`; this is a single pass.)
template <char... Cs>
std::size_t find_first_of(std::string_view s) {
  // Eight bytes at a time while none of them can be one of Cs (a byte equal to C is a zero
  // byte of x ^ C·0x0101..., which the borrow trick finds; it may flag a byte after a true
  // zero, never a word without one).
  constexpr std::uint64_t ones = 0x0101010101010101ull;
  constexpr std::uint64_t highs = 0x8080808080808080ull;
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t x;
    std::memcpy(&x, s.data() + i, 8);
    std::uint64_t hit = 0;
    ((hit |= ((x ^ (static_cast<unsigned char>(Cs) * ones)) - ones) &
             ~(x ^ (static_cast<unsigned char>(Cs) * ones)) & highs),
     ...);
    if (hit != 0) break;
  }
  for (; i < s.size(); ++i) {
    if (((s[i] == Cs) || ...)) return i;
  }
  return std::string_view::npos;
}

// Standard base64 (RFC 4648: the + and / alphabet, padded with = to whole groups of four),
// decoded; nullopt when `in` is not that (the JetStream API sends message data so).
std::optional<std::string> from_base64(std::string_view in);

}  // namespace referrald::domain
