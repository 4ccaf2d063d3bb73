#include "store/commit_queue.hpp"

#include <chrono>
#include <exception>
#include <vector>

#include "infra/log.hpp"
#include "infra/metrics.hpp"
#include "infra/thread_name.hpp"

namespace referrald::store {

namespace {

// The error a write built on a failed one gets: the failure's kind, so that a full disk
// still reads as a full disk.
domain::error built_on(const domain::error& failure) {
  domain::error e = failure;
  e.message = "an earlier change this one builds on was not stored: " + failure.message;
  return e;
}

void run_callback(const commit_queue::done_fn& done, const domain::status& st) noexcept {
  try {
    done(st);
  } catch (const std::exception& e) {
    infra::metrics().actor_exceptions.fetch_add(1, std::memory_order_relaxed);
    infra::log(infra::log_level::error,
               std::string("a commit callback failed with an exception: ") + e.what());
  } catch (...) {
    infra::metrics().actor_exceptions.fetch_add(1, std::memory_order_relaxed);
    infra::log(infra::log_level::error, "a commit callback failed with an exception");
  }
}

}  // namespace

commit_queue::commit_queue(db& d, std::size_t max_group_bytes)
    : db_(d), max_group_bytes_(max_group_bytes), writer_([this] {
        infra::name_thread("store.commit");
        run();
      }) {}

commit_queue::~commit_queue() { stop(); }

std::optional<domain::error> commit_queue::refusal(const request& r) const {
  if (r.stream.empty()) return std::nullopt;
  auto it = streams_.find(r.stream);
  if (it == streams_.end()) return std::nullopt;
  if (it->second.failure) return built_on(*it->second.failure);
  if (it->second.epoch != r.epoch) {
    return domain::make_error(domain::errc::unavailable,
                              "an earlier change this one builds on was not stored; retry");
  }
  return std::nullopt;
}

void commit_queue::submit(write_batch batch, done_fn done, std::string stream) {
  std::optional<domain::error> refuse;
  {
    std::lock_guard lock(mu_);
    request r{std::move(batch), std::move(done), std::move(stream), 0};
    if (!r.stream.empty()) r.epoch = streams_[r.stream].epoch;
    if (stopping_) {
      refuse = domain::make_error(domain::errc::unavailable, "the store is shutting down");
    } else {
      refuse = refusal(r);
    }
    if (!refuse) {
      queue_.push_back(std::move(r));
      infra::metrics().store_commit_queue_depth.fetch_add(1, std::memory_order_relaxed);
    } else {
      done = std::move(r.done);
    }
  }
  if (refuse) {
    run_callback(done, domain::status(*refuse));
    return;
  }
  cv_.notify_one();
}

void commit_queue::resume(const std::string& stream) {
  std::lock_guard lock(mu_);
  auto it = streams_.find(stream);
  if (it == streams_.end()) return;  // never written: nothing to resume
  it->second.failure.reset();
  ++it->second.epoch;
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
  std::vector<std::pair<request, domain::error>> refused;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      std::size_t bytes = 0;
      while (!queue_.empty() && (group.empty() || bytes < max_group_bytes_)) {
        request r = std::move(queue_.front());
        queue_.pop_front();
        infra::metrics().store_commit_queue_depth.fetch_sub(1, std::memory_order_relaxed);
        if (auto why = refusal(r)) {
          refused.emplace_back(std::move(r), std::move(*why));
          continue;
        }
        bytes += r.batch.byte_size();
        group.push_back(std::move(r));
      }
    }
    for (auto& [r, why] : refused)
      run_callback(r.done, domain::status(why));
    refused.clear();
    if (group.empty()) continue;

    domain::status result;
    try {
      write_batch merged = std::move(group.front().batch);
      for (std::size_t i = 1; i < group.size(); ++i)
        merged.append(std::move(group[i].batch));
      auto started = std::chrono::steady_clock::now();
      result = db_.write(merged, true);
      auto& m = infra::metrics();
      m.store_commit_seconds.observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      if (result) {
        m.store_commit_group_size.observe(group.size());
        m.store_commits.fetch_add(1, std::memory_order_relaxed);
        m.store_commit_requests.fetch_add(group.size(), std::memory_order_relaxed);
      }
    } catch (const std::exception& e) {
      infra::metrics().actor_exceptions.fetch_add(1, std::memory_order_relaxed);
      infra::log(infra::log_level::error,
                 std::string("the commit writer failed with an exception: ") + e.what());
      result = domain::make_error(domain::errc::internal, "the change could not be stored");
    }
    if (!result) {
      std::lock_guard lock(mu_);
      for (const auto& r : group) {
        if (!r.stream.empty()) streams_[r.stream].failure = result.err();
      }
    }
    for (auto& r : group)
      run_callback(r.done, result);
    group.clear();
  }
}

}  // namespace referrald::store
