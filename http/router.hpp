#pragma once

// The route table: path patterns with `{param}` segments, per-method handlers, the access
// each needs and its body limit. Every route is also served under the `/v1` prefix.
// Built once at start-up, then read-only (safe to share between I/O threads).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/auth/api_key.hpp"
#include "http/request.hpp"

namespace referrald::http {

// Who may read a route's answers from a browser page (CORS, http/cors.hpp).
enum class page_access : std::uint8_t {
  configured,  // the server's --cors-origins (and a publishable key's origins, if publishable)
  any_page,    // any page: Access-Control-Allow-Origin: *, every preflight answered
};

// How a route is declared beyond its pattern, method and handler, by name:
//   {.access = read, .body_limit = rule, .query = "account_id as_of", .tenant = account}
struct route_spec {
  std::optional<domain::access> access{};  // nullopt: no authentication
  std::size_t body_limit = 0;
  std::string_view query{};            // the query parameters it reads, separated by spaces
  tenant_of tenant = tenant_of::none;  // parsed once by the tenant step
  // A write of its tenant: in cluster mode, made by the node that owns the tenant
  // (docs/cluster.md "Owners"), to which another node relays it.
  bool owned = false;
  // Answered from what every node keeps of its own (insights' counts): in cluster mode the
  // node that takes it asks the other live nodes for their part first (the members step,
  // http/forwarding.cpp), and a node asked answers its own part only.
  bool from_every_node = false;
  page_access cors = page_access::configured;
  // A publishable key may call it (from its allowed origins); no other route takes one.
  bool publishable = false;
  // Described in the API's description (openapi.json); the console's files are not.
  bool documented = true;
  // The answer is one object (a single-object GET, a create, a patch): a 200 or 201 carries
  // its ETag, and a GET is answered 304 when If-None-Match names it.
  bool etag = false;
  // A creating POST: an Idempotency-Key makes its retries answer the first answer again.
  bool idempotent = false;
  // Its answer may be streamed (request_ctx::stream is made for it).
  bool streams = false;
  // A static file (the tracker script, the console's files, the API's description): its
  // query string is not read, so a page may add one to bust its caches (?v=2).
  bool static_file = false;
};

struct route : route_spec {
  std::string pattern;  // "/passthrough-referrers/{id}"
  // The pattern's segments ("passthrough-referrers", "{id}"), split once when added.
  std::vector<std::string> segments;
  method verb = method::get;
  handler fn = nullptr;
  std::size_t index = 0;  // position in the table (metrics)
  // The query parameters the handler reads (route_spec::query split); any other one is
  // refused with 400.
  std::vector<std::string> query_names;
};

class router {
 public:
  // The routing step (http/chain.hpp): a request is matched by find(); one that matched no
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
