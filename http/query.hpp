#pragma once

// Query strings and path segments: percent-decoding and typed parameter access.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/result.hpp"
#include "domain/url.hpp"

namespace referrald::http {

class query_params {
 public:
  // Parses "a=1&b=two"; a name given twice is an error naming it.
  static domain::result<query_params> parse(std::string_view raw);

  // The decoded value, or nullptr when absent.
  const std::string* get(std::string_view name) const;

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

// A boolean parameter: true|false|1|0; absent → `fallback`; anything else → 400.
domain::result<bool> bool_param(const query_params& q, std::string_view name, bool fallback);

}  // namespace referrald::http
