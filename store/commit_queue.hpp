#pragma once

// Group commit. Any thread submits a write_batch with a completion callback; one writer
// thread takes every batch waiting at that moment, writes them as one RocksDB write
// with `sync = true` (one fsync for all of them) and then runs their callbacks in
// submission order. A callback therefore means "durable" (or failed).
//
// Ordering: batches are written in submission order and callbacks run in that order on
// the writer thread; callbacks must be quick and must not block (post a message).
//
// Streams: writes that build on each other (an account's hash-chained events, the key
// table, the connections) name their stream. When a write of a stream fails (a full
// disk: nothing of the group was written), the stream is blocked: its writes already
// queued, and those submitted until its writer calls resume(), fail too, since they
// were built on the failed one. The writer rolls its state back to what is durable and
// calls resume(); later writes are accepted again as soon as the store takes them. So no
// write can be durable while one it was built on is not (no gaps in a chain), and a
// failure never outlives its cause. Independent writes (AI rows) use no stream.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "domain/base/result.hpp"
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
  // when the queue is stopped or the stream is blocked). `stream` empty: independent.
  void submit(write_batch batch, done_fn done, std::string stream = {});

  // Unblocks `stream` after a failure: writes submitted from now on are accepted; those
  // submitted before are still refused. Thread-safe.
  void resume(const std::string& stream);

  // Writes what was submitted before, then joins the writer. Idempotent.
  void stop();

 private:
  struct request {
    write_batch batch;
    done_fn done;
    std::string stream;
    std::uint64_t epoch = 0;  // the stream's epoch when submitted
  };
  struct stream_state {
    std::uint64_t epoch = 0;               // bumped by resume()
    std::optional<domain::error> failure;  // set while blocked
  };
  // Under mu_: the error refusing `r` (a blocked or outdated stream), if any.
  std::optional<domain::error> refusal(const request& r) const;
  void run();

  db& db_;
  const std::size_t max_group_bytes_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<request> queue_;
  std::unordered_map<std::string, stream_state> streams_;
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace referrald::store
