#include "store/commit_queue.hpp"

#include <chrono>
#include <vector>

#include "domain/metrics.hpp"

namespace referrald::store {

commit_queue::commit_queue(db& d, std::size_t max_group_bytes)
    : db_(d), max_group_bytes_(max_group_bytes), writer_([this] { run(); }) {}

commit_queue::~commit_queue() { stop(); }

void commit_queue::submit(write_batch batch, done_fn done) {
  std::optional<domain::error> refuse;
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      refuse = domain::make_error(domain::errc::unavailable, "the store is shutting down");
    } else if (failed_) {
      refuse = domain::make_error(
          domain::errc::unavailable,
          "the store refuses writes after an earlier failure: " + failed_->message);
    } else {
      queue_.push_back(request{std::move(batch), std::move(done)});
    }
  }
  if (refuse) {
    done(domain::status(*refuse));
    return;
  }
  cv_.notify_one();
}

void commit_queue::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !writer_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_one();
  if (writer_.joinable()) writer_.join();
}

void commit_queue::run() {
  std::vector<request> group;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      std::size_t bytes = 0;
      while (!queue_.empty() && (group.empty() || bytes < max_group_bytes_)) {
        bytes += queue_.front().batch.byte_size();
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }

    domain::status result;
    if (failed_) {
      result = domain::make_error(
          domain::errc::unavailable,
          "the store refuses writes after an earlier failure: " + failed_->message);
    } else {
      write_batch merged = std::move(group.front().batch);
      for (std::size_t i = 1; i < group.size(); ++i)
        merged.append(std::move(group[i].batch));
      auto started = std::chrono::steady_clock::now();
      result = db_.write(merged, true);
      auto& m = domain::metrics();
      m.store_commit_seconds.observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      m.store_commits.fetch_add(1, std::memory_order_relaxed);
      m.store_commit_requests.fetch_add(group.size(), std::memory_order_relaxed);
      if (!result) {
        std::lock_guard lock(mu_);
        failed_ = result.err();
      }
    }
    for (auto& r : group)
      r.done(result);
    group.clear();
  }
}

}  // namespace referrald::store
