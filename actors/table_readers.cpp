#include "actors/table_readers.hpp"

#include <algorithm>
#include <utility>
#include <vector>

namespace referrald::actors {

table_readers::table_readers(std::function<std::uint64_t()> copy_applied)
    : copy_applied_(std::move(copy_applied)) {}

void table_readers::told(reader r, std::uint64_t seq) {
  std::lock_guard lock(mu_);
  unread_[r].push_back(std::max<std::uint64_t>(seq, 1));
}

void table_readers::read(reader r) {
  std::vector<std::function<void(bool)>> due;
  {
    std::lock_guard lock(mu_);
    if (unread_[r].empty()) return;  // a reading nobody asked for
    unread_[r].pop_front();
    due = waiting_.take_through(through_locked());
  }
  for (auto& fn : due)
    fn(true);
}

std::uint64_t table_readers::through_locked() const {
  std::uint64_t at = copy_applied_();
  for (const auto& unread : unread_) {
    if (!unread.empty()) at = std::min(at, unread.front() - 1);
  }
  return at;
}

std::uint64_t table_readers::through() const {
  std::lock_guard lock(mu_);
  return through_locked();
}

void table_readers::when_through(std::uint64_t seq, std::function<void(bool)> fn) {
  bool reached = false;
  {
    std::lock_guard lock(mu_);
    if (!closed_ && through_locked() < seq) {
      waiting_.add(seq, std::move(fn));
      return;
    }
    reached = !closed_;
  }
  fn(reached);
}

void table_readers::close() {
  std::vector<std::function<void(bool)>> refused;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    refused = waiting_.take_all();
  }
  for (auto& fn : refused)
    fn(false);
}

}  // namespace referrald::actors
