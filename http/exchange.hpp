#pragma once

// One request and what the steps of its handling have learnt about it so far. A session
// (http/server.cpp) holds one exchange per request and passes it through the steps in the
// order a request meets them:
//
//   framing          http/request_head.hpp, http/framing.hpp: the head read the strict way,
//                    the body's limit, the answer written out
//   request id       http/request_id.hpp: the client's X-Request-Id, or one of ours
//   routing          http/router.hpp: the route, its path parameters and query parameters
//   CORS             http/cors.hpp: preflights, and the headers an allowed origin reads
//   authentication   http/authentication.hpp: the API key (Bearer or Basic) and its role
//   rate limit       http/rate_limit.hpp: a token from the caller's bucket
//   idempotency      http/idempotency.hpp: an Idempotency-Key claimed, or answered again
//   owners           http/forwarding.hpp: a write sent to the node that owns it (cluster)
//   handler          http/handlers.hpp: the route's own work
//   entity tag       http/entity_tag.hpp: ETag, and 304 for If-None-Match
//   access log       http/access_log.hpp: one line per answered request
//
// A new exchange replaces the old one whole when the next request begins on a kept-alive
// connection, so that nothing of one request (its key, its tenant, its request id) can be
// carried into the next.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "domain/auth/api_key.hpp"
#include "http/rate_limiter.hpp"
#include "http/request_head.hpp"
#include "http/router.hpp"

namespace referrald::http {

struct exchange {
  std::size_t scanned = 0;  // header bytes already searched for the blank line
  std::optional<request_parser> parser;
  router::match match;
  std::string target;                             // the request target in origin form
  std::string_view path;                          // in target
  const domain::api_key* key = nullptr;           // the authenticated caller, if any
  std::shared_ptr<const domain::key_table> keys;  // keeps key alive
  domain::key_table::usage* key_use = nullptr;    // in keys
  std::chrono::steady_clock::time_point started;
  bool close_after = false;
  std::string request_id;  // the client's X-Request-Id, or ours
  std::optional<rate_limiter::verdict> rate;
  std::string account, brand;     // the tenant named, for the access log
  std::string idempotency_scope;  // the Idempotency-Key this request claimed

  bool routed() const { return match.kind == router::match::found; }
  const boost::beast::http::request<boost::beast::http::string_body>& head() const {
    return parser->get();
  }
  // A header field's value ("" when absent).
  std::string_view field(boost::beast::http::field f) const {
    auto v = parser->get()[f];
    return {v.data(), v.size()};
  }
  std::string_view field(std::string_view name) const {
    auto v = parser->get()[boost::beast::string_view(name.data(), name.size())];
    return {v.data(), v.size()};
  }
};

}  // namespace referrald::http
