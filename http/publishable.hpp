#pragma once

// The publishable step (http/chain.hpp): everything a publishable key (role publishable,
// secret pk_..., docs/api-guide.md "Publishable keys") may and may not do, in one place.
//
// - It calls one kind of route (route_spec::publishable: POST /attribution/resolve), from a
//   page of one of its allowed_origins (the browser's Origin header), and resolves a
//   visitor's visit as the rules stand now: not with `explain` nor `as_of` (403).
// - Its requests take tokens from buckets of their own, one per key and client address
//   (ex.page; http/rate_limit.hpp), since its secret is public.
// - Its origins read its answers (ex.page_origin; http/cors.hpp), and a browser's preflight
//   on such a route is answered for any origin a key that has not expired lists.
//
// A refusal waits in ex.refusal for the rate-limit step, as an authentication's does.

#include <optional>

#include "http/exchange.hpp"
#include "http/response.hpp"

namespace referrald::http {

// What a publishable key's request to `ex`'s route may not do; nullopt when it may go on.
std::optional<response> publishable_refusal(const exchange& ex);

}  // namespace referrald::http
