#pragma once

// The follower of a cluster_log (cluster_log::follow()): a push consumer that
// passes every message of the events stream on in stream order, never skipping one (a gap
// is read from the stream's leader, or the follower subscribes again), and a watchdog
// thread that confirms, every second, what was applied against the stream's leader and
// halts the follower where the node's copy diverged from the stream. A message that does
// not decode halts it too. Included by .cpp files of cluster/ only.
//
// Owned by cluster_log's implementation, which stops the watchdog (stop_watchdog()) and
// then the subscription (unsubscribe()) before the connection goes. Messages are passed on
// on a thread of the NATS client's; the watchdog also runs the log's other periodic checks
// (`checks`). halt(), suspect_all and refuse_if_halted() are for any thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cluster/cluster_log.hpp"
#include "cluster/log_connection.hpp"

namespace referrald::cluster {

struct log_follower {
  // `checks` is called by the watchdog every second, besides its own checks.
  log_follower(log_connection& c, std::function<void()> checks)
      : conn(c), other_checks(std::move(checks)) {}

  log_connection& conn;
  std::function<void()> other_checks;

  std::mutex follow_mu;
  natsSubscription* sub = nullptr;
  std::function<void(domain::result<cluster_message>)> on_write;
  std::function<void()> on_idle;  // cluster_log::follow()'s `idle`, under deliver_mu

  // The follower: a push consumer from next_seq on (log_connection::read_in_order()). When
  // it goes silent (its server lost, the cluster electing leaders), the watchdog subscribes
  // again from the next sequence, once the stream has messages the follower has not had
  // for a while.
  std::uint64_t next_seq = 1;  // under deliver_mu (and follow_mu while subscribing)
  std::mutex deliver_mu;
  std::atomic<std::chrono::steady_clock::time_point> last_delivery{};
  std::atomic<bool> refollow{false};  // a gap could not be filled: subscribe again

  // A halted follower passes nothing on any more (see halt()).
  std::atomic<bool> halted_flag{false};
  mutable std::mutex halt_mu;
  std::string halted_why;  // under halt_mu
  std::function<void(std::uint64_t)> on_diverged;

  // What the follower applied and the stream's leader has not confirmed yet, as (stream
  // sequence, fingerprint of subject and payload); the most recent ones when there were
  // many. `confirmed` is the last one the leader confirmed. Both under deliver_mu.
  struct applied_mark {
    std::uint64_t seq = 0;
    std::uint64_t print = 0;
  };
  static constexpr std::size_t k_unconfirmed_kept = 4096;
  std::vector<applied_mark> unconfirmed;
  applied_mark confirmed;
  // Confirm every message applied since the last confirmation, not a sample: set after a
  // change of leader, a check that got no answer, a reconnection or suspect().
  std::atomic<bool> suspect_all{false};
  std::string leader_seen;        // the watchdog's
  std::uint64_t missing_seq = 0;  // the watchdog's: a message the leader lacks
  int missing_checks = 0;         // and for how many checks running
  std::thread watchdog;
  std::mutex watch_mu;
  std::condition_variable watch_cv;
  bool stopping = false;

  // cluster_log::follow(): subscribes from `from` and starts the watchdog.
  domain::status start(std::uint64_t from, std::function<void(domain::result<cluster_message>)> fn,
                       std::function<void(std::uint64_t seq)> diverged, std::function<void()> idle);
  // Stops and joins the watchdog; then unsubscribe() ends the subscription.
  void stop_watchdog();
  void unsubscribe();

  static void on_message(natsConnection*, natsSubscription*, natsMsg* m, void* closure);

  static std::uint64_t print_of(natsMsg* m);

  // Under deliver_mu: passes the message at `seq` (next_seq) on, or halts there when it
  // does not decode; destroys it. `more`: the follower holds the next message already.
  void deliver(natsMsg* m, std::uint64_t seq, bool more);
  // Under deliver_mu: tells on_idle that no message is held back.
  void idle();

  // Why the follower stops at message `seq` that failed with `e`: a newer release's
  // encoding, or one that cannot be read (`decoded` false) or applied.
  static std::string halt_reason(std::uint64_t seq, const domain::error& e, bool decoded);

  // cluster_log::newer_release().
  static bool newer_release(const domain::error& e);

  // A node whose follower halted takes no write: it would decide it on a copy that no
  // longer follows the stream.
  domain::status refuse_if_halted() const;

  // Any thread (also from within on_write): nothing is passed on after this.
  // True for the call that halted it.
  bool halt(std::uint64_t seq, const std::string& why);

  // The watchdog's, every second: confirms what the follower applied against the stream's
  // leader (cluster_log::follow()).
  void confirm();

  // Halts at `seq`, whose message differs from the stream's (`why`), and calls on_diverged
  // when this call halted it.
  void diverge(std::uint64_t seq, const std::string& why);

  // Under deliver_mu: delivers the messages from next_seq to before `seq` read one by one
  // from the stream's leader; false (and the follower subscribes again soon) when one
  // cannot be read now. `why` says why the follower lacks them (logged).
  bool fill_gap(std::uint64_t seq,
                std::string_view why = "did not reach this node's follower in order");

  // Asks the watchdog to subscribe again from next_seq (after a short pause, so that the
  // server it reads from can catch up); always false.
  bool refollow_soon();

  // Under follow_mu.
  domain::status subscribe();

  void watch();

  // The follower had nothing for a while: when the stream's leader holds messages it has
  // not had, the server its consumer reads from lags (a replica that has not caught up
  // after an election or a partition, or a consumer lost with its server). Those messages
  // are read from the leader itself (at most 1000 at a time) and the follower subscribes
  // again from the next one, so that a lagging replica never holds the node back.
  void resubscribe_if_behind();
};

}  // namespace referrald::cluster
