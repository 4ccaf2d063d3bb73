#pragma once

// Callbacks waiting for a position (of a stream, of a log) to be reached: kept by position,
// and taken together once it is. Not thread-safe: the owner holds its own lock, and calls
// what it took after releasing it.

#include <cstddef>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

namespace referrald::domain {

template <class Fn>
class position_waits {
 public:
  void add(std::uint64_t position, Fn fn) { waiting_.emplace(position, std::move(fn)); }

  // The callbacks waiting for `reached` or an earlier position, in the order of their
  // positions; they wait no more.
  std::vector<Fn> take_through(std::uint64_t reached) {
    std::vector<Fn> due;
    auto end = waiting_.upper_bound(reached);
    for (auto it = waiting_.begin(); it != end; ++it)
      due.push_back(std::move(it->second));
    waiting_.erase(waiting_.begin(), end);
    return due;
  }

  // The callbacks for which `pred` holds, in the order of their positions; they wait no more.
  template <class Pred>
  std::vector<Fn> take_if(Pred pred) {
    std::vector<Fn> taken;
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (!pred(it->second)) {
        ++it;
        continue;
      }
      taken.push_back(std::move(it->second));
      it = waiting_.erase(it);
    }
    return taken;
  }

  bool empty() const { return waiting_.empty(); }
  std::size_t size() const { return waiting_.size(); }

  // Every callback still waiting; none waits any more.
  std::vector<Fn> take_all() {
    std::vector<Fn> all;
    all.reserve(waiting_.size());
    for (auto& [position, fn] : waiting_)
      all.push_back(std::move(fn));
    waiting_.clear();
    return all;
  }

 private:
  std::multimap<std::uint64_t, Fn> waiting_;
};

}  // namespace referrald::domain
