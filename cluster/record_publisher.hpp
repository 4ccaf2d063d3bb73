#pragma once

// Writes of records onto the cluster's stream (cluster mode): API keys, AI-referral
// connections, rows and batch records (cluster/cluster_log.hpp, "Records"). A few threads
// append them; each write is reported done once this node's copy of the stream has
// applied it too (applied()), so that whoever answers a client after it finds the change
// in effect on this node.
//
// The writes of one scope (one subject) go out in the order they were submitted, one at
// a time; different scopes in parallel.
//
// Thread-safe. Callbacks run on a publisher thread or the follower's (or the caller's,
// once stop() began), exactly once each; they must be quick and must not block.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cluster/cluster_log.hpp"
#include "domain/base/position_waits.hpp"
#include "domain/base/result.hpp"

namespace referrald::cluster {

// The puts of `batch` (which holds nothing else) as records under `scope`.
cluster_records records_of(std::string scope, const store::write_batch& batch);

class record_publisher {
 public:
  // The stream sequence of the message, or why it was not stored (beaten when
  // `expected` did not hold).
  using done_fn = std::function<void(const domain::result<std::uint64_t>&)>;

  // `log` must outlive the publisher.
  record_publisher(cluster_log& log, std::size_t threads);
  ~record_publisher();
  record_publisher(const record_publisher&) = delete;
  record_publisher& operator=(const record_publisher&) = delete;

  // Appends `records` (cluster_log::append_records) after the scope's earlier writes.
  void submit(cluster_records records, std::optional<std::uint64_t> expected, done_fn done);
  // The same for the puts of `batch` (which holds nothing else), under `scope`.
  void submit(std::string scope, const store::write_batch& batch,
              std::optional<std::uint64_t> expected, done_fn done);

  // Calls `done(seq)` once this node has applied the stream up to `seq` (a write appended
  // directly, by a thread that may block).
  void when_applied(std::uint64_t seq, done_fn done);

  // This node has applied the stream up to `seq` (called by its follower, in order).
  void applied(std::uint64_t seq);

  // Fails what is queued or waiting (unavailable) and joins the threads. Idempotent.
  void stop();

 private:
  struct job {
    cluster_records records;
    std::optional<std::uint64_t> expected;
    done_fn done;
  };
  void run();

  cluster_log& log_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<job> queued_;
  std::set<std::string> busy_;               // scopes with a write in flight
  domain::position_waits<done_fn> waiting_;  // stored, not yet applied here
  std::uint64_t applied_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace referrald::cluster
