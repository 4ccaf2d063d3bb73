#pragma once

// Group commit. Any thread submits a write_batch with a completion callback; one writer
// thread takes every batch waiting at that moment, writes them as one RocksDB write
// with `sync = true` (one fsync for all of them) and then runs their callbacks in
// submission order. A callback therefore means "durable" (or failed).
//
// Ordering: batches are written in submission order and callbacks run in that order on
// the writer thread; callbacks must be quick and must not block (post a message).
// Failure is sticky: after a write fails, that group and every later submit fail with
// `unavailable`, so no later event can be durable while an earlier one of the same
// stream is not (no gaps). The process must be restarted to recover, as with RocksDB's
// own background errors.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "domain/result.hpp"
#include "store/db.hpp"

namespace referrald::store {

class commit_queue {
 public:
  using done_fn = std::function<void(const domain::status&)>;

  // `d` must outlive the queue.
  explicit commit_queue(db& d, std::size_t max_group_bytes = 64u << 20);
  ~commit_queue();
  commit_queue(const commit_queue&) = delete;
  commit_queue& operator=(const commit_queue&) = delete;

  // Thread-safe. `done` runs exactly once, on the writer thread (or on the calling thread
  // when the queue is already stopped or failed).
  void submit(write_batch batch, done_fn done);

  // Writes what was submitted before, then joins the writer. Idempotent.
  void stop();

 private:
  struct request {
    write_batch batch;
    done_fn done;
  };
  void run();

  db& db_;
  const std::size_t max_group_bytes_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<request> queue_;
  bool stopping_ = false;
  std::optional<domain::error> failed_;
  std::thread writer_;
};

}  // namespace referrald::store
