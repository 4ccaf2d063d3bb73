#pragma once

// The route table: path patterns with `{param}` segments, per-method handlers, the access
// each needs and its body limit. Every route is also served under the `/v1` prefix.
// Built once at start-up, then read-only (safe to share between I/O threads).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/auth/api_key.hpp"
#include "http/request.hpp"

namespace referrald::http {

struct route {
  std::string pattern;  // "/passthrough-referrers/{id}"
  // The pattern's segments ("passthrough-referrers", "{id}"), split once when added.
  std::vector<std::string> segments;
  method verb = method::get;
  handler fn = nullptr;
  std::optional<domain::access> access;  // nullopt: no authentication
  std::size_t body_limit = 0;
  std::size_t index = 0;  // position in the table (metrics)
};

class router {
 public:
  void add(std::string pattern, method verb, handler fn, std::optional<domain::access> access,
           std::size_t body_limit);

  struct match {
    enum kind_t { found, not_found, method_not_allowed } kind = not_found;
    const route* entry = nullptr;
    std::vector<std::string> params;
    std::string allow;                 // for 405: "GET, POST"
    const route* same_path = nullptr;  // for 405: the first route with this pattern
    std::string error;                 // a path segment that does not decode
  };

  // `path` is the request target without the query string.
  match find(method verb, std::string_view path) const;

  const std::vector<route>& routes() const { return routes_; }

 private:
  std::vector<route> routes_;
};

}  // namespace referrald::http
