#pragma once

// Token buckets, one per caller: an API key, or a client address for requests that fail to
// authenticate. A bucket holds up to `burst` tokens and refills at `rps` tokens a second;
// a request takes one token, and a push or a batch resolution is then charged for each row
// or visit beyond the first once its size is known (charge(): the bucket may go below zero,
// and the caller waits until it refills). Thread-safe; buckets are sharded by caller, and a
// bucket left full for a minute is forgotten.

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace referrald::http {

class rate_limiter {
 public:
  // rps 0: no limit (take() always allows and reports nothing).
  rate_limiter(double rps, double burst);

  bool enabled() const { return rps_ > 0; }

  struct verdict {
    bool allowed = true;
    std::uint64_t limit = 0;        // RateLimit-Limit: the burst
    std::uint64_t remaining = 0;    // RateLimit-Remaining: whole tokens left
    std::uint64_t reset = 0;        // RateLimit-Reset: seconds until the bucket is full
    std::uint64_t retry_after = 0;  // Retry-After when refused: seconds until one token
  };

  // Takes one token from `caller`'s bucket when it holds one.
  verdict take(std::string_view caller);
  // Takes `tokens` more from `caller`'s bucket, below zero if need be.
  void charge(std::string_view caller, double tokens);

  using clock = std::chrono::steady_clock;

 private:
  struct bucket {
    double tokens = 0;
    clock::time_point at;
  };
  struct shard {
    std::mutex mu;
    std::unordered_map<std::string, bucket> buckets;
    clock::time_point swept;
  };
  static constexpr std::size_t k_shards = 16;

  shard& shard_of(std::string_view caller);
  // The bucket refilled up to `now` (created full).
  bucket& refill(shard& s, std::string_view caller, clock::time_point now);
  void sweep(shard& s, clock::time_point now);

  double rps_;
  double burst_;
  std::array<shard, k_shards> shards_;
};

}  // namespace referrald::http
