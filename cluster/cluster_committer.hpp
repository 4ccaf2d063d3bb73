#pragma once

// Group commit onto the cluster's stream (cluster mode): what store/commit_queue.hpp is to
// the embedded store. Account actors submit their events, which are appended to the stream
// without waiting (cluster_log::append_async), each account's writes strictly in order: on
// the submitting thread when the account has nothing in flight, otherwise by one
// dispatcher thread once the write in flight is acknowledged.
//
// - One write of an account is in flight at a time, since each expects the stream
//   sequence of the account's previous write. What its actor submits meanwhile goes out
//   together, as one message, once the write in flight is acknowledged (a per-account
//   group commit), up to 4 MiB of events per message.
// - Different accounts' writes are in flight together, as many as there are accounts
//   (the client's acknowledgement handler hands an account's next batch back to the
//   dispatcher: publishing from the handler would stall the one thread that can release a
//   full window of writes in flight).
// - When a write fails — another node wrote the account first (beaten), or the cluster
//   cannot store it (unavailable) — it and everything submitted after it for the account
//   fail with the same error, since they were built on it, until the actor has caught up
//   and calls reset() with the account's new head.
//
// Thread-safe. Callbacks run on a thread of the NATS client's or the log's (or on the
// caller's, for a submission refused at once), exactly once each; they must be quick and
// must not block.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cluster/cluster_log.hpp"
#include "domain/base/result.hpp"

namespace referrald::cluster {

class cluster_committer {
 public:
  // The stream sequence of the message that holds the events, or why they were not stored.
  using done_fn = std::function<void(const domain::result<std::uint64_t>&)>;

  // `log` must outlive the committer.
  explicit cluster_committer(cluster_log& log);
  ~cluster_committer();
  cluster_committer(const cluster_committer&) = delete;
  cluster_committer& operator=(const cluster_committer&) = delete;

  // The stream sequence the account's next write must follow (0: the account has none),
  // and the end of a failure: later submissions are accepted again.
  void reset(const std::string& account_id, std::uint64_t stream_head);

  // After a beaten write (and until reset()): the stream sequence the beaten write expected
  // as the account's last; the write that came first is after it.
  std::optional<std::uint64_t> beaten_at(const std::string& account_id);

  // Queues events numbered from `first_seq`, chained on those submitted before for the
  // account. Refused at once (unavailable) when the account was not reset() since it was
  // loaded or since a failure, or once stop() began.
  void submit(const std::string& account_id, std::uint64_t first_seq,
              std::vector<std::string> values, done_fn done);

  // Lets the writes in flight finish, fails the queued ones (unavailable), joins the
  // dispatcher. Idempotent.
  void stop();

 private:
  struct pending {
    std::uint64_t first_seq = 0;
    std::vector<std::string> values;
    done_fn done;
  };
  struct account_queue {
    std::optional<std::uint64_t> head;  // unset: not reset() yet, or blocked by a failure
    std::optional<domain::error> failure;
    std::optional<std::uint64_t> beaten_at;  // beaten: what the beaten write expected
    std::deque<pending> queued;
    bool in_flight = false;
    bool in_turns = false;
  };
  struct batch {
    cluster_write write;
    std::uint64_t expected = 0;
    std::vector<done_fn> dones;
  };
  void run();
  // Under mu_: the account's queued writes as one message, marked in flight; none when it
  // has nothing queued, a write in flight, or no head.
  std::optional<batch> take_batch(const std::string& account, account_queue& q);
  void publish(batch b);
  // The outcome of an account's write in flight (on the client's thread).
  void on_stored(const std::string& account, std::uint64_t expected,
                 const std::vector<done_fn>& dones, const domain::result<std::uint64_t>& stored);
  // Under mu_: fails every queued write of `q` with `e` (callbacks collected in `out`).
  static void fail_queued(account_queue& q, const domain::error& e,
                          std::vector<std::pair<done_fn, domain::error>>& out);

  cluster_log& log_;
  std::mutex mu_;
  std::condition_variable cv_;       // the dispatcher: turns_ or stopping_
  std::condition_variable drained_;  // stop(): in_flight_ reached 0
  std::unordered_map<std::string, account_queue> accounts_;
  std::deque<std::string> turns_;  // accounts with writes ready and none in flight
  bool stopping_ = false;
  std::size_t in_flight_ = 0;
  std::thread dispatcher_;
};

}  // namespace referrald::cluster
