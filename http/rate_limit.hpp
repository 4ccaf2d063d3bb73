#pragma once

// The rate limit step (http/chain.hpp): a request to an authenticated route takes a
// token from its caller's bucket — its API key's, or its client address's when its key was
// refused — and is answered 429 when the bucket is empty; every answer to it carries the
// bucket's state (docs/api-guide.md, "Rate limits"). The buckets are http/rate_limiter.hpp's.

#include <optional>
#include <string_view>

#include "http/exchange.hpp"
#include "http/rate_limiter.hpp"
#include "http/response.hpp"

namespace referrald::http {

// Takes the token; sets ex.rate. A 429 when refused. `unauthenticated`: the key was
// refused (401), so the address pays. A publishable key's request (ex.page) takes from `pages`,
// from the bucket of the key and the client address.
std::optional<response> take_token(exchange& ex, rate_limiter& limiter, rate_limiter& pages,
                                   bool unauthenticated, std::string_view remote);

// RateLimit-Limit, -Remaining and -Reset when a token was taken.
void add_rate_headers(response& r, const exchange& ex);

}  // namespace referrald::http
