#include "http/rate_limit.hpp"

#include <cstdint>
#include <string>

#include "http/steps.hpp"

namespace referrald::http {

std::optional<response> take_token(exchange& ex, rate_limiter& limiter, rate_limiter& pages,
                                   bool unauthenticated, std::string_view remote) {
  if (!ex.match.entry->access) return std::nullopt;
  bool page = ex.page && ex.key != nullptr;
  const rate_limiter& used = page ? pages : limiter;
  if (!used.enabled()) return std::nullopt;
  if (page) {
    ex.rate = pages.take_address(std::to_string(ex.key->id) + " " + std::string(remote));
  } else if (ex.key != nullptr && ex.key_use != nullptr) {
    ex.rate = limiter.take(ex.key_use->bucket);
  } else if (unauthenticated) {
    ex.rate = limiter.take_address(std::string(remote));
  } else {
    return std::nullopt;
  }
  if (ex.rate->allowed) return std::nullopt;
  response r = failure(domain::make_error(
      domain::errc::rate_limited,
      std::string(page                ? "this address has used its budget of this publishable key"
                  : ex.key != nullptr ? "this API key has used its request budget"
                                      : "this address has used its request budget") +
          " (" + std::to_string(static_cast<std::uint64_t>(used.rps())) +
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

namespace {

// The caller's token, then the authentication or publishable step's refusal, if any. A
// forwarded write was charged by the node it came to.
class rate_limit_step final : public step {
 public:
  explicit rate_limit_step(const chain_parts& parts)
      : limiter_(parts.limiter), pages_(parts.pages_limiter) {}
  std::string_view name() const override { return "rate limit"; }
  verdict request(const flow& f) override {
    exchange& ex = f.ex();
    if (!ex.forwarded_in) {
      bool unauthenticated = ex.refusal && ex.refusal->status == 401;
      if (auto limited = take_token(ex, limiter_, pages_, unauthenticated, ex.remote)) {
        return verdict::reply(std::move(*limited));
      }
    }
    if (ex.refusal) return verdict::reply(std::move(*std::exchange(ex.refusal, std::nullopt)));
    return verdict::next();
  }
  void respond(exchange& ex, response& r) const override { add_rate_headers(r, ex); }
  bool adds_to_relayed() const override { return true; }

 private:
  rate_limiter& limiter_;
  rate_limiter& pages_;
};

}  // namespace

std::unique_ptr<step> make_rate_limit_step(const chain_parts& parts) {
  return std::make_unique<rate_limit_step>(parts);
}

}  // namespace referrald::http
