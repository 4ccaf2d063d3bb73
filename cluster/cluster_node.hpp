#pragma once

// This node's side of the cluster (docs/cluster.md): the stream, the node's copy of it, the
// writers (the committer of the accounts' events, the record publisher) and the follower
// that applies each message of the stream to the copy, in stream order, and tells the layer
// above what it applied. A copy that turns out to differ from the stream is marked and the
// node told to stop, to fill a new one when started again.
//
// The runtime (actors/runtime.cpp) makes one and hands its journal to the actors; the
// journal's conformance suite (tests/interfaces/journal_suite.hpp) runs against one too.
// Thread-safe; the hooks run on the follower's thread and must be quick.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cluster/cluster_log.hpp"
#include "domain/base/clock.hpp"
#include "domain/rules/event.hpp"
#include "interfaces/journal.hpp"

namespace referrald::store {
class db;
class event_log;
}  // namespace referrald::store

namespace referrald::cluster {

class cluster_cache;
class cluster_committer;
class record_publisher;

// What the follower tells the layer above, on its thread, in stream order.
struct node_hooks {
  // An account's write is in the copy: its last event is `last_event`, and `events` are
  // the write's events as the copy holds them (checked: they continue the account's
  // history there), for an actor to fold without reading them back.
  std::function<void(const std::string& account, std::uint64_t last_event,
                     std::shared_ptr<const std::vector<domain::event>> events)>
      account_applied;
  // Records of `scope` ("keys", "connections.<brand>", ...) are in the copy, at stream
  // position `seq`; called before the node counts `seq` as applied (applied(), when_applied).
  std::function<void(const std::string& scope, std::uint64_t seq)> records_applied;
  // A copy made anew from the stream less than 10 minutes ago does not continue the
  // account's history: the stream's own history is at fault, and the account is broken
  // until an operator repairs it (referralctl verify names the event).
  std::function<void(const std::string& account, const std::string& why)> account_broken;
  // The copy was found to differ from the stream (and marked): the node should stop.
  std::function<void()> copy_diverged;
};

class cluster_node {
 public:
  // Joins the stream (waiting up to o.start_wait for the cluster) and reads the copy's
  // position; throws std::runtime_error when it cannot. `copy` and `copy_log` (this node's
  // RocksDB) must outlive the node.
  cluster_node(store::db& copy, const store::event_log& copy_log, cluster_options o,
               const domain::clock& clock = domain::system_clock());
  ~cluster_node();
  cluster_node(const cluster_node&) = delete;
  cluster_node& operator=(const cluster_node&) = delete;

  // Follows the stream from what the copy has applied, telling `hooks`, and returns once
  // the copy holds what the stream held when it was called (or after 60 s, or when the
  // follower halted: a newer release's message). Throws std::runtime_error when the cluster
  // cannot be followed within the start wait. Once.
  void start(node_hooks hooks);

  interfaces::journal& journal() { return *journal_; }
  cluster_log& log() { return *log_; }
  const cluster_cache& copy() const { return *cache_; }

  // The stream sequence the copy has applied, and whether it reached the stream's end as
  // it was at start.
  std::uint64_t applied() const;
  bool caught_up() const;
  // fn(true) once the copy has applied `seq` (on the follower's thread, or at once);
  // fn(false) when the node stops first.
  void when_applied(std::uint64_t seq, std::function<void(bool)> fn);

  // The layer above found that the copy does not continue `account`'s history (what it
  // applied does not fit the account's state): see node_hooks::account_broken.
  void copy_does_not_fit(const std::string& account, const std::string& why);

  // Finishes the writes submitted and takes no more (answered unavailable).
  void stop_writers();
  // Stops following; the hooks are not called any more. After stop_writers().
  void close();

 private:
  void on_message(domain::result<cluster_message> m);
  // Writes the copy's open group and tells the layer above what it applied (on the
  // follower's thread, or its watchdog's, never at once).
  void commit_group();
  void does_not_fit(std::uint64_t seq, const std::string& account, const std::string& why);

  store::db& db_;
  const domain::clock& clock_;
  cluster_options options_;
  std::unique_ptr<cluster_log> log_;
  std::unique_ptr<cluster_cache> cache_;
  std::unique_ptr<cluster_committer> committer_;
  std::unique_ptr<record_publisher> records_;
  std::unique_ptr<interfaces::journal> journal_;
  node_hooks hooks_;
  mutable std::mutex mu_;
  std::condition_variable caught_up_cv_;
  std::uint64_t applied_ = 0;  // under mu_
  // The messages of the copy's open group, for the hooks once it is written: an account's
  // write (its last event) or records (their scope). The follower's.
  struct applied_message {
    std::uint64_t seq = 0;
    std::string name;  // the account, or the records' scope
    std::uint64_t last_event = 0;
    bool records = false;
    std::shared_ptr<const std::vector<domain::event>> events;  // an account's write's
  };
  std::vector<applied_message> group_;
  static constexpr std::size_t k_group_messages = 256;
  static constexpr std::size_t k_group_bytes = 4u << 20;
  std::uint64_t target_ = 0;  // the stream's last sequence when the node started
};

}  // namespace referrald::cluster
