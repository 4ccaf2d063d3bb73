#pragma once

// Splitting URLs as trackers and analytics tools send them (absolute URLs, or
// scheme-less "host/path?query" values) and decoding their query strings. Lenient by
// design: it never fails, it only finds less; callers decide what is acceptable.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/result.hpp"

namespace referrald::domain {

struct url_parts {
  std::string_view scheme;     // "https" (lowercase not guaranteed); empty when absent
  std::string_view authority;  // "user@host:port"; empty when absent
  std::string_view path;       // "/a/b"; empty when absent
  std::string_view query;      // after '?', without it; empty when absent
  std::string_view fragment;   // after '#', without it
};

// `s` is trimmed by the caller. "//host/x" and "host/x" both put "host" in authority.
url_parts split_url(std::string_view s);

// Decodes %XX escapes (and `+` as a space when `plus_is_space`). Errors on a malformed
// escape or a result that is not valid UTF-8.
result<std::string> percent_decode(std::string_view s, bool plus_is_space);

// The name=value pairs of a query string, decoded (form encoding: `+` is a space). Pairs
// that do not decode are skipped.
std::vector<std::pair<std::string, std::string>> query_pairs(std::string_view query);

}  // namespace referrald::domain
