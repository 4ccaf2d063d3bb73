#include "http/rate_limit.hpp"

#include <cstdint>
#include <string>

namespace referrald::http {

std::optional<response> take_token(exchange& ex, rate_limiter& limiter, double rps,
                                   bool unauthenticated, std::string_view remote) {
  if (!limiter.enabled() || !ex.match.entry->access) return std::nullopt;
  if (ex.key != nullptr && ex.key_use != nullptr) {
    ex.rate = limiter.take(ex.key_use->bucket);
  } else if (unauthenticated) {
    ex.rate = limiter.take_address(std::string(remote));
  } else {
    return std::nullopt;
  }
  if (ex.rate->allowed) return std::nullopt;
  response r = failure(domain::make_error(
      domain::errc::rate_limited,
      std::string(ex.key != nullptr ? "this API key" : "this address") +
          " has used its request budget (" + std::to_string(static_cast<std::uint64_t>(rps)) +
          " per second, bursts of " + std::to_string(ex.rate->limit) + "); retry in " +
          std::to_string(ex.rate->retry_after) + " s"));
  r.headers.emplace_back("Retry-After", std::to_string(ex.rate->retry_after));
  return r;
}

void add_rate_headers(response& r, const exchange& ex) {
  if (!ex.rate) return;
  r.headers.emplace_back("RateLimit-Limit", std::to_string(ex.rate->limit));
  r.headers.emplace_back("RateLimit-Remaining", std::to_string(ex.rate->remaining));
  r.headers.emplace_back("RateLimit-Reset", std::to_string(ex.rate->reset));
}

}  // namespace referrald::http
