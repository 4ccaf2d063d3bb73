#pragma once

// Query strings and path segments: percent-decoding and typed parameter access.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/base/result.hpp"
#include "domain/web/url.hpp"

namespace referrald::http {

class query_params {
 public:
  // Parses "a=1&b=two"; a name given twice is an error naming it.
  static domain::result<query_params> parse(std::string_view raw);

  // The decoded value, or nullptr when absent.
  const std::string* get(std::string_view name) const;

  // Every parameter, in the order given.
  const std::vector<std::pair<std::string, std::string>>& items() const { return items_; }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

// A boolean parameter: true|false|1|0; absent → `fallback`; anything else → 400.
domain::result<bool> bool_param(const query_params& q, std::string_view name, bool fallback);

// A whole-number parameter in [min, max] (decimal digits only); absent → `fallback`;
// anything else → 400 naming the parameter.
domain::result<std::uint64_t> uint_param(const query_params& q, std::string_view name,
                                         std::uint64_t fallback, std::uint64_t min,
                                         std::uint64_t max);

// An RFC 3339 time parameter (`as_of`): absent → nullopt; not a valid time → 400.
domain::result<std::optional<std::int64_t>> time_param(const query_params& q,
                                                       std::string_view name);

}  // namespace referrald::http
