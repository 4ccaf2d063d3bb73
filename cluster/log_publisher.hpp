#pragma once

// The appends of a cluster_log (cluster/cluster_log.hpp): a write claims its position with
// its message id and the subject's expected last sequence (its fence), is published again
// (same id, same expectation: stored at most once) while the stream has no leader or an
// attempt goes unanswered, within the publish timeout, and an outcome that is not plain —
// a duplicate id, a failed expectation — is decided by reading what the stream stored.
// Included by .cpp files of cluster/ only.
//
// Owned by cluster_log's implementation, which calls start() once connected and close()
// before the connection goes. Every append is one message with the fence's headers
// (fenced_message()) whose reply, the stream's acknowledgement, is read by read_reply().
// Appends without waiting name a reply subject of the publisher's own inbox, whose
// acknowledgements come to on_ack on a thread of the NATS client's; the resolver thread
// gives up an attempt left unanswered past its wait, and decides the outcomes that need a
// look at the stream (blocking requests). Every other call is for any thread.
//
// Not the client's asynchronous JetStream publish: libnats 3.4.1 (Debian 12's) makes, for
// every message published with a wait, a timeout message that reaches the acknowledgements'
// thread once the wait passed, acknowledged or not, and wakes its timer thread about every
// millisecond under load to do so (fixed in nats.c 3.11.0): about 0.3 context switches per
// write on a writing node.

#include <atomic>
#include <chrono>
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
#include <unordered_map>

#include "cluster/cluster_log.hpp"
#include "cluster/log_connection.hpp"

namespace referrald::cluster {

struct log_publisher {
  explicit log_publisher(log_connection& c) : conn(c) {}

  log_connection& conn;
  std::string writer_prefix;  // node name "/" process nonce "/"
  std::atomic<std::uint64_t> writes{0};
  using clock = std::chrono::steady_clock;
  // Asynchronous appends (append_async): published with a reply subject `acks_prefix` +
  // the attempt's token, their acknowledgements coming to on_ack through `acks`.
  natsInbox* inbox = nullptr;
  natsSubscription* acks = nullptr;
  std::string acks_prefix;
  struct async_append {
    std::function<void(domain::result<std::uint64_t>)> done;
    std::string subject, writer, lost;
    // To publish it again while the stream has no leader (leader_gone()).
    std::string id, payload;
    std::uint64_t expected = 0;
    clock::time_point until;     // the write's publish timeout
    clock::time_point deadline;  // this attempt's: given up (a timeout) when unanswered then
    int attempts = 0;
  };
  // At most this many attempts in flight; a publisher past it waits up to k_room_wait for
  // one to be decided, then fails the write (unavailable).
  static constexpr std::size_t k_in_flight = 4096;
  static constexpr std::chrono::milliseconds k_room_wait{200};
  std::atomic<std::uint64_t> tokens{0};  // each attempt's, in its reply subject
  // Guards what follows.
  std::mutex mu;
  // The attempts in flight, by token, and when each is given up; decided_cv is notified
  // when one is decided (close() and publishers waiting for room wait on it).
  std::unordered_map<std::uint64_t, async_append> async_waiting;
  std::set<std::pair<clock::time_point, std::uint64_t>> deadlines;
  std::condition_variable decided_cv;
  // Outcomes that need a look at the stream (blocking requests), off the client's thread;
  // the resolver's own wake-ups (resolve_cv).
  std::condition_variable resolve_cv;
  std::deque<std::function<void()>> resolve_jobs;
  // Jobs due later (an append published again); called with true when the log closes first.
  std::multimap<clock::time_point, std::function<void(bool closing)>> resolve_delayed;
  bool resolve_stopping = false;
  // When the resolver wakes by itself (max: not before it is woken; min: it is awake), so
  // that an attempt is given its deadline without waking the resolver for each.
  clock::time_point resolver_wakes = clock::time_point::min();
  std::thread resolver;

  // Names this process's write attempts after `node_name` and a nonce (new_writer()).
  void name_writers(const std::string& node_name);
  // A name for one write attempt (cluster_write::writer), unique across nodes.
  std::string new_writer();

  // Subscribes the acknowledgements of the appends without waiting and starts the resolver.
  domain::status start();
  // Waits for every append in flight to be acknowledged or given up, drains the
  // acknowledgements' subscription, stops the resolver and fails what is still waiting
  // (unavailable).
  void close();

  // cluster_log::append(), append_async(), append_records() and append_claim() (on `stream`,
  // the Idempotency-Key stream), once the follower did not refuse them.
  domain::result<std::uint64_t> append(const cluster_write& write, std::uint64_t expected);
  void append_async(cluster_write w, std::uint64_t expected,
                    std::function<void(domain::result<std::uint64_t>)> done);
  domain::result<std::uint64_t> append_records(const cluster_records& records,
                                               std::optional<std::uint64_t> expected);
  domain::result<std::uint64_t> append_claim(const std::string& stream, const std::string& token,
                                             const std::string& payload, std::uint64_t expected);

  // After a failed expectation (the subject's last sequence is no longer `expected`): the
  // sequence of the subject's first message after `expected` when it is one `ours`
  // recognizes (an earlier attempt of this write stored it, whatever came after it), else
  // beaten with `lost` (another writer's message took the place this write claimed); the
  // read's error when the stream cannot say (no leader yet), never beaten for that.
  domain::result<std::uint64_t> first_after_is_ours(const std::string& stream,
                                                    const std::string& subject,
                                                    std::uint64_t expected,
                                                    const std::function<bool(natsMsg*)>& ours,
                                                    const std::string& lost);

  // Whether the message of `stream` at `seq` (or the subject's last message when `seq` is
  // 0) is one `ours` recognizes; false when there is none.
  domain::result<bool> stored_is(const std::string& stream, const std::string& subject,
                                 std::uint64_t seq, const std::function<bool(natsMsg*)>& ours);

  // A recognizer of the events stream's messages written by the attempt `writer`.
  static std::function<bool(natsMsg*)> written_by(const std::string& writer);

  // Publishes `payload` on `subject` of `stream` with the id `msg_id`, expecting the
  // subject's last message at `expected` when set (0: none). `ours` tells this attempt's
  // message from another's (a retry of an attempt whose acknowledgement was lost is stored
  // once); `lost` is the conflict's message.
  domain::result<std::uint64_t> publish(const std::string& stream, const std::string& subject,
                                        const std::string& payload, const std::string& msg_id,
                                        std::optional<std::uint64_t> expected,
                                        const std::function<bool(natsMsg*)>& ours,
                                        const std::string& lost);

  void run_resolver();
  void resolve_after(std::chrono::milliseconds delay, std::function<void(bool closing)> job);
  void resolve_later(std::function<void()> job);

  // Publishes `a` without waiting: its outcome comes to on_ack, or to the resolver when no
  // acknowledgement came by its deadline (or at once, to a.done, when the client refuses
  // it). Not on the client's acknowledgement thread.
  void publish_async(async_append a);

  // The stream's answer to one attempt of an append: its acknowledgement, its error
  // (JetStream's `code`), no responders (no leader), or a timeout.
  struct reply {
    natsStatus status = NATS_OK;
    jsErrCode code = jsErrCode(0);
    std::uint64_t seq = 0;
    bool duplicate = false;
  };
  static reply read_reply(natsMsg* m);

  // The message of an append: `payload` on `subject` with the id `msg_id`, the stream
  // expected to be `stream`, and the subject's last message at `expected` when set (0:
  // none); `reply_to` the reply subject (none when empty).
  static natsStatus fenced_message(natsMsg** m, const std::string& subject,
                                   const std::string& reply_to, const std::string& payload,
                                   const std::string& msg_id, const std::string& stream,
                                   std::optional<std::uint64_t> expected);

  // An acknowledgement of an asynchronous append, on the client's thread.
  static void on_ack(natsConnection*, natsSubscription*, natsMsg* m, void* closure);
  // The outcome `r` of one attempt of `a`: decided at once when it can be, else published
  // again or decided by the resolver, as publish() decides.
  void decide(async_append a, const reply& r);
  // Takes the attempt `token` out of what is waiting; empty when it was decided already.
  std::optional<async_append> take(std::uint64_t token);
};

}  // namespace referrald::cluster
