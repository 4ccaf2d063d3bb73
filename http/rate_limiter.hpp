#pragma once

// Rate limits (docs/api-guide.md, "Rate limits"): a token bucket per caller — an API key, or a
// client address for requests that fail to authenticate — of `burst` tokens refilled at `rps` a
// second. A request takes one token; a push or a batch resolution is then charged for each
// row or visit beyond the first once its size is known (charge(): the bucket may go below
// zero, and the caller waits until it refills).
//
// Each bucket is one atomic "theoretical arrival time" (the generic cell rate algorithm: the
// time at which the bucket will be full again, in steady-clock nanoseconds), updated with a
// compare-and-swap: no lock on the path of an authenticated request. An API key's bucket
// lives in the key table beside the key (domain::key_table::usage), carried over when the
// table is published again; address buckets live here, under a mutex (only refused
// requests use them), and one left full for a minute is forgotten.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "domain/base/clock.hpp"

namespace referrald::http {

class rate_limiter {
 public:
  // rps 0: no limit (take() always allows and reports nothing). Time is `clock`'s.
  rate_limiter(double rps, double burst, const domain::clock& clock = domain::system_clock());

  bool enabled() const { return interval_ns_ > 0; }
  double rps() const { return rps_; }

  struct verdict {
    bool allowed = true;
    std::uint64_t limit = 0;        // RateLimit-Limit: the burst
    std::uint64_t remaining = 0;    // RateLimit-Remaining: whole tokens left
    std::uint64_t reset = 0;        // RateLimit-Reset: seconds until the bucket is full
    std::uint64_t retry_after = 0;  // Retry-After when refused: seconds until one token
  };

  // Takes one token from the bucket `tat` when it holds one.
  verdict take(std::atomic<std::int64_t>& tat) const;
  // Takes `tokens` more from the bucket `tat`, below zero if need be.
  void charge(std::atomic<std::int64_t>& tat, double tokens) const;
  // take() on the bucket of a client address.
  verdict take_address(const std::string& address);

 private:
  std::int64_t now_ns() const;

  const domain::clock& clock_;
  double rps_ = 0;
  std::int64_t interval_ns_ = 0;   // between two tokens
  std::int64_t tolerance_ns_ = 0;  // burst × interval
  std::uint64_t burst_ = 0;
  std::mutex mu_;
  std::unordered_map<std::string, std::atomic<std::int64_t>> addresses_;
  std::int64_t swept_ = 0;
};

}  // namespace referrald::http
