#pragma once

// Names the conformance suites give what they write: `name` and a token of this run, so that
// no case of any run meets another's data where it outlives the case (a cluster's streams
// keep records for a day).

#include <chrono>
#include <string>

namespace referrald::testing {

inline std::string unique_name(const std::string& name) {
  static const auto run =
      std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000007);
  return name + "_" + run;
}

}  // namespace referrald::testing
