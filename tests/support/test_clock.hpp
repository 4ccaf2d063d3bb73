#pragma once

// A clock a test sets (domain/base/clock.hpp): it stands still until advanced, both its
// wall time and its steady time, so that lifetimes and timeouts are tested without waiting.

#include <atomic>
#include <chrono>

#include "domain/base/clock.hpp"

namespace referrald::testing {

class test_clock final : public domain::clock {
 public:
  explicit test_clock(domain::unix_ms start = 1'767'225'600'000)  // 2026-01-01T00:00:00Z
      : wall_(start) {}

  domain::unix_ms now_ms() const override { return wall_.load(); }
  std::chrono::steady_clock::time_point steady_now() const override {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(steady_.load()));
  }

  // Moves both clocks forward by `d`.
  void advance(std::chrono::milliseconds d) {
    wall_ += d.count();
    steady_ += d.count();
  }

 private:
  std::atomic<domain::unix_ms> wall_;
  std::atomic<std::int64_t> steady_{1'000'000};
};

}  // namespace referrald::testing
