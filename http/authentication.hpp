#pragma once

// The authentication step (http/chain.hpp): the API key a request presents and whether
// its role allows the route (docs/api-guide.md, "Authentication"). A key is presented as
//
//   Authorization: Bearer <secret>
//   Authorization: Basic base64(<user>:<secret>)   any user name; the secret as password
//                                                  (`curl -u :rk_...`), or as the user
//                                                  name with no password (`curl -u rk_...:`)
//
// Basic is there for the tools that speak nothing else (Snowplow's API Request Enrichment,
// webhook senders); both reach the same key, with the same rate limit, audit and access log.

#include <optional>
#include <string>
#include <string_view>

#include "actors/runtime.hpp"
#include "domain/base/clock.hpp"
#include "http/exchange.hpp"
#include "http/response.hpp"

namespace referrald::http {

// What an Authorization header presents.
struct credentials {
  enum class scheme { none, bearer, basic, other };
  scheme how = scheme::none;
  std::string secret;  // empty when none could be read
  // Why the header could not be read (a Basic value that is not base64 of "user:password",
  // a scheme this server does not take); empty when it could.
  std::string problem;
};
credentials read_credentials(std::string_view authorization);

// Checks the key `ex`'s request presents against the key table and the role `ex`'s route
// needs; sets ex.key, ex.keys and ex.key_use. A refusal (401, 403) when the request may not
// go on. A key's use (and an expired key's refusal) is reported to the keys actor, at most
// once a minute per key.
std::optional<response> authenticate(exchange& ex, actors::runtime& runtime,
                                     const domain::clock& clock);

// The WWW-Authenticate challenge of a 401: both schemes, except for a script's request from
// a browser page (Sec-Fetch-Mode other than navigate), which gets Bearer alone: a Basic
// challenge would make the browser ask its user for a password over the page.
void add_challenge(response& r, std::string_view sec_fetch_mode);

}  // namespace referrald::http
