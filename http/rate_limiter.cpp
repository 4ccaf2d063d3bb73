#include "http/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

namespace referrald::http {

namespace {

// A bucket full for this long is dropped (it would be created full again).
constexpr auto k_forget_after = std::chrono::minutes(1);

}  // namespace

rate_limiter::rate_limiter(double rps, double burst) : rps_(rps), burst_(std::max(1.0, burst)) {}

rate_limiter::shard& rate_limiter::shard_of(std::string_view caller) {
  return shards_[std::hash<std::string_view>{}(caller) % k_shards];
}

rate_limiter::bucket& rate_limiter::refill(shard& s, std::string_view caller,
                                           clock::time_point now) {
  auto it = s.buckets.find(std::string(caller));
  if (it == s.buckets.end()) {
    if (s.buckets.size() >= 1024 && now - s.swept > std::chrono::seconds(10)) sweep(s, now);
    it = s.buckets.emplace(std::string(caller), bucket{burst_, now}).first;
    return it->second;
  }
  bucket& b = it->second;
  double elapsed = std::chrono::duration<double>(now - b.at).count();
  if (elapsed > 0) {
    b.tokens = std::min(burst_, b.tokens + elapsed * rps_);
    b.at = now;
  }
  return b;
}

void rate_limiter::sweep(shard& s, clock::time_point now) {
  s.swept = now;
  std::erase_if(s.buckets, [&](const auto& entry) {
    const bucket& b = entry.second;
    double full_at = (burst_ - b.tokens) / rps_;
    return now - b.at > k_forget_after + std::chrono::duration<double>(full_at);
  });
}

rate_limiter::verdict rate_limiter::take(std::string_view caller) {
  verdict v;
  if (!enabled()) return v;
  auto now = clock::now();
  shard& s = shard_of(caller);
  std::lock_guard lock(s.mu);
  bucket& b = refill(s, caller, now);
  v.allowed = b.tokens >= 1;
  if (v.allowed) b.tokens -= 1;
  v.limit = static_cast<std::uint64_t>(burst_);
  v.remaining = b.tokens <= 0 ? 0 : static_cast<std::uint64_t>(std::floor(b.tokens));
  v.reset = static_cast<std::uint64_t>(std::ceil((burst_ - b.tokens) / rps_));
  if (!v.allowed) {
    v.retry_after =
        std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil((1 - b.tokens) / rps_)));
  }
  return v;
}

void rate_limiter::charge(std::string_view caller, double tokens) {
  if (!enabled() || tokens <= 0) return;
  auto now = clock::now();
  shard& s = shard_of(caller);
  std::lock_guard lock(s.mu);
  refill(s, caller, now).tokens -= tokens;
}

}  // namespace referrald::http
