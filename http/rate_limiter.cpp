#include "http/rate_limiter.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace referrald::http {

namespace {

std::uint64_t ceil_seconds(std::int64_t ns) {
  return ns <= 0 ? 0 : static_cast<std::uint64_t>((ns + 999999999) / 1000000000);
}

}  // namespace

std::int64_t rate_limiter::now_ns() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             clock_.steady_now().time_since_epoch())
      .count();
}

rate_limiter::rate_limiter(double rps, double burst, const domain::clock& clock) : clock_(clock) {
  if (rps <= 0) return;
  rps_ = rps;
  interval_ns_ = std::max<std::int64_t>(1, std::llround(1e9 / rps));
  burst_ = static_cast<std::uint64_t>(std::max(1.0, burst));
  tolerance_ns_ = interval_ns_ * static_cast<std::int64_t>(burst_);
}

rate_limiter::verdict rate_limiter::take(std::atomic<std::int64_t>& tat) const {
  verdict v;
  if (!enabled()) return v;
  v.limit = burst_;
  const std::int64_t now = now_ns();
  std::int64_t old = tat.load(std::memory_order_relaxed);
  for (;;) {
    std::int64_t next = std::max(old, now) + interval_ns_;
    if (next - now > tolerance_ns_) {
      // Empty: nothing taken.
      v.allowed = false;
      v.remaining = 0;
      v.reset = ceil_seconds(old - now);
      v.retry_after = std::max<std::uint64_t>(1, ceil_seconds(next - tolerance_ns_ - now));
      return v;
    }
    if (tat.compare_exchange_weak(old, next, std::memory_order_relaxed)) {
      v.remaining = static_cast<std::uint64_t>((tolerance_ns_ - (next - now)) / interval_ns_);
      v.reset = ceil_seconds(next - now);
      return v;
    }
  }
}

void rate_limiter::charge(std::atomic<std::int64_t>& tat, double tokens) const {
  if (!enabled() || tokens <= 0) return;
  const std::int64_t now = now_ns();
  const auto cost = static_cast<std::int64_t>(tokens * static_cast<double>(interval_ns_));
  std::int64_t old = tat.load(std::memory_order_relaxed);
  while (!tat.compare_exchange_weak(old, std::max(old, now) + cost, std::memory_order_relaxed)) {
  }
}

rate_limiter::verdict rate_limiter::take_address(const std::string& address) {
  if (!enabled()) return {};
  std::lock_guard lock(mu_);
  std::int64_t now = now_ns();
  if (addresses_.size() >= 1024 && now - swept_ > 10'000'000'000) {
    swept_ = now;
    // A bucket full again a minute ago would be created full: forget it.
    std::erase_if(addresses_, [&](const auto& entry) {
      return entry.second.load(std::memory_order_relaxed) < now - 60'000'000'000;
    });
  }
  return take(addresses_[address]);
}

}  // namespace referrald::http
