#pragma once

// One request and what the steps of the request chain (http/chain.hpp) have learnt about it
// so far. A source of requests (a connection, or a request forwarded by another node) holds
// one exchange per request and passes it through the chain.
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
#include "http/tenant.hpp"

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
  std::string idempotency_scope;  // the Idempotency-Key this request claimed

  std::string_view remote;    // the client's address (the source's)
  bool forwarded_in = false;  // a write another node forwarded to this one as its owner
  bool has_body = false;      // the head announces a body (Content-Length > 0, or chunked)
  bool body_read = false;     // and it was read
  // The refusal of the authentication or publishable step, answered by the rate-limit step
  // once the caller's token is taken (so that guessing keys costs tokens too).
  std::optional<response> refusal;
  // The publishable step's: a publishable key's request (its own rate-limit buckets), and
  // an Origin that a publishable key lists for this route (its preflight and answers).
  bool page = false;
  bool page_origin = false;
  tenant named;  // the tenant step's
  // What the handler sees (built by the steps on the way).
  request_ctx ctx;
  // Given instead of a 503 when a wait runs out (the owner's answer to a forwarded write).
  std::optional<response> on_timeout;

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
