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

// Whose write a route makes, for the owners of cluster mode (docs/cluster.md "Owners"):
// a node that does not own it sends the request to the node that does.
enum class owner_scope { none, account, brand };

struct route {
  std::string pattern;  // "/passthrough-referrers/{id}"
  // The pattern's segments ("passthrough-referrers", "{id}"), split once when added.
  std::vector<std::string> segments;
  method verb = method::get;
  handler fn = nullptr;
  std::optional<domain::access> access;  // nullopt: no authentication
  std::size_t body_limit = 0;
  std::size_t index = 0;  // position in the table (metrics)
  // The query parameters the handler reads; any other one is refused with 400.
  std::vector<std::string> query;
  // The answer is one object (a single-object GET, a create, a patch): a 200 or 201 carries
  // its ETag, and a GET is answered 304 when If-None-Match names it.
  bool etag = false;
  // A creating POST: an Idempotency-Key makes its retries answer the first answer again.
  bool idempotent = false;
  // A publishable key may call it (from its allowed origins); no other route takes one.
  bool publishable = false;
  // A static file (the tracker script, the console's files, the API's description): its
  // query string is not read, so a page may add one to bust its caches (?v=2).
  bool static_file = false;
  // Any web page may read it: its answers carry Access-Control-Allow-Origin: *, and a
  // browser's preflight is answered for every origin.
  bool any_page = false;
  // Its answer may be streamed (request_ctx::stream is made for it).
  bool streams = false;
  // Set by add(): a write of one account (account_id) or of one brand ({brand_id}).
  owner_scope owner = owner_scope::none;
};

// How a route is declared beyond its pattern, method and handler.
struct route_spec {
  route_spec(std::optional<domain::access> a, std::size_t limit, std::string_view q = {},
             bool tagged = false, bool retried = false, bool for_pages = false)
      : access(a),
        body_limit(limit),
        query(q),
        etag(tagged),
        idempotent(retried),
        publishable(for_pages) {}
  std::optional<domain::access> access;  // nullopt: no authentication
  std::size_t body_limit = 0;
  std::string_view query;  // the query parameters it reads, separated by spaces
  bool etag = false;
  bool idempotent = false;
  bool publishable = false;
  bool static_file = false;  // as route::static_file
  bool any_page = false;     // as route::any_page
  bool streams = false;      // as route::streams
};

class router {
 public:
  // The routing step (http/exchange.hpp): a request is matched by find(); one that matched no
  // route gets route_error(), and one whose query names a parameter its route does not read
  // gets unknown_query().
  void add(std::string pattern, method verb, handler fn, const route_spec& spec);

  struct match {
    enum kind_t { found, not_found, method_not_allowed } kind = not_found;
    const route* entry = nullptr;
    std::vector<std::string> params;
    std::string allow;                 // for 405 and OPTIONS: "GET, HEAD, POST, OPTIONS"
    const route* same_path = nullptr;  // for 405: the first route with this pattern
    std::string error;                 // a path segment that does not decode
  };

  // `path` is the request target without the query string.
  match find(method verb, std::string_view path) const;

  const std::vector<route>& routes() const { return routes_; }

 private:
  std::vector<route> routes_;
};

// 404 for a path no route serves, 405 (with Allow) for a method a known path does not take.
response route_error(const router::match& m, method verb, std::string_view path);

// 400 naming the first query parameter `r` does not read; nullopt when there is none.
std::optional<response> unknown_query(const route& r, const query_params& q);

}  // namespace referrald::http
