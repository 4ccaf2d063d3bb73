#pragma once

// The appends of a cluster_log (cluster/cluster_log.hpp): a write claims its position with
// its message id and the subject's expected last sequence (its fence), is published again
// (same id, same expectation: stored at most once) while the stream has no leader or an
// attempt goes unanswered, within the publish timeout, and an outcome that is not plain —
// a duplicate id, a failed expectation — is decided by reading what the stream stored.
// Included by .cpp files of cluster/ only.
//
// Owned by cluster_log's implementation, which calls start() once connected and close()
// before the connection goes. Appends without waiting have a JetStream context of their
// own, whose acknowledgements come to on_ack on a thread of the NATS client's; outcomes
// that need a look at the stream (blocking requests) go to the publisher's resolver thread.
// Every other call is for any thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
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
  // Asynchronous appends (append_async): their own context, whose acknowledgements come to
  // on_ack; what is waiting, by message id (one write per account position is in flight).
  jsCtx* js_async = nullptr;
  struct async_append {
    std::function<void(domain::result<std::uint64_t>)> done;
    std::string subject, writer, lost;
    // To publish it again while the stream has no leader (leader_gone()).
    std::string id, payload;
    std::uint64_t expected = 0;
    std::chrono::steady_clock::time_point until;
    int attempts = 0;
  };
  std::mutex async_mu;
  std::unordered_map<std::string, async_append> async_waiting;
  std::mutex publish_mu;  // a message being published is not destroyed meanwhile (on_ack)
  // Outcomes that need a look at the stream (blocking requests), off the client's thread.
  std::mutex resolve_mu;
  std::condition_variable resolve_cv;
  std::deque<std::function<void()>> resolve_jobs;
  // Jobs due later (an append published again); called with true when the log closes first.
  std::multimap<std::chrono::steady_clock::time_point, std::function<void(bool closing)>>
      resolve_delayed;
  bool resolve_stopping = false;
  std::thread resolver;

  // Names this process's write attempts after `node_name` and a nonce (new_writer()).
  void name_writers(const std::string& node_name);
  // A name for one write attempt (cluster_write::writer), unique across nodes.
  std::string new_writer();

  // Opens the context of the appends without waiting and starts the resolver.
  domain::status start();
  // Waits for every append in flight to be acknowledged or given up, stops the resolver,
  // fails what is still waiting (unavailable) and destroys the context.
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

  // Publishes `a` without waiting: its outcome comes to on_ack (or at once, to a.done, when
  // the client refuses it). Not on the client's acknowledgement thread.
  void publish_async(async_append a);

  // The acknowledgement (or failure) of an asynchronous append, on the client's thread:
  // decided at once when it can be, else by the resolver, as publish() decides.
  static void on_ack(jsCtx*, natsMsg* m, jsPubAck* pa, jsPubAckErr* pae, void* closure);
};

}  // namespace referrald::cluster
