#pragma once

// Tests wait for a condition, not for a time: the one place that polls between checks.

#include <algorithm>
#include <chrono>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>

namespace referrald::testing {

// True as soon as `pred()` is true; false once `within` passed, `pred` having been checked
// one last time at the deadline. Checks every `every`; runs on the caller's thread.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds within = std::chrono::seconds(5),
                std::chrono::milliseconds every = std::chrono::milliseconds(20)) {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + within;
  for (;;) {
    if (pred()) return true;
    const auto now = clock::now();
    if (now >= deadline) return false;
    std::this_thread::sleep_for(std::min<clock::duration>(every, deadline - now));
  }
}

// Calls `fn` until `ok(result)` holds or `within` passed, as `eventually` does, and returns
// the last result (`fn` is called at least once).
template <class Fn, class Ok>
std::invoke_result_t<Fn&> retry_until(
    Fn fn, Ok ok, std::chrono::milliseconds within = std::chrono::seconds(5),
    std::chrono::milliseconds every = std::chrono::milliseconds(20)) {
  std::optional<std::invoke_result_t<Fn&>> last;
  eventually(
      [&] {
        last.emplace(fn());
        return static_cast<bool>(ok(*last));
      },
      within, every);
  return std::move(*last);
}

// A load generator's pause between requests: pacing, not a wait for a condition.
inline void pace(std::chrono::milliseconds pause) { std::this_thread::sleep_for(pause); }

}  // namespace referrald::testing
