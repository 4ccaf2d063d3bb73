#pragma once

// Writes sent to their owner (cluster mode, docs/cluster.md "Owners"), over NATS
// request/reply on the cluster's servers:
//
//   subject  := "referrald-fwd." stream "." node    (node: the owner's member name,
//                                                    cluster/cluster_membership.hpp; the
//                                                    owner subscribes to its own)
//   request  := an HTTP/1.1 request: request line, the client's header fields without
//               those of its connection (Connection, Keep-Alive, Transfer-Encoding, TE,
//               Expect, Upgrade), a Content-Length, the body;
//               NATS header "Referrald-Remote": the client's address
//   replies  := at once, an empty message with NATS header "Referrald-Forward: taken";
//               every second while it runs, the same with "Referrald-Forward: working";
//               then the answer: an HTTP/1.1 response (status line, header fields,
//               Content-Length, body) with NATS header "Referrald-Applied": the stream
//               sequence the owner had applied when it answered
//
// The sender tells three outcomes apart: answered; not taken (no node subscribed — the
// owner is gone or stopping — or no "taken" within the short bound: nothing ran, the
// sender may write itself); and taken but silent for longer than the answer bound (no
// answer and no "working": the owner is gone or cut off; it may or may not have run). Replies come
// to one inbox subscription of the sender ("_INBOX." nuid "." token).
//
// Thread-safe. Callbacks run on NATS delivery threads or the timer's; they must be quick.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "domain/base/result.hpp"

namespace referrald::cluster {

class cluster_log;

class cluster_forward {
 public:
  // Subscribes the reply inbox and, for `node` (a member name), the node's subject.
  static domain::result<std::unique_ptr<cluster_forward>> open(cluster_log& log,
                                                               const std::string& node);
  ~cluster_forward();
  cluster_forward(const cluster_forward&) = delete;
  cluster_forward& operator=(const cluster_forward&) = delete;

  // A request for this node, and how to answer it (once, from any thread).
  struct incoming {
    std::string request;  // the HTTP request's bytes
    std::string remote;   // the client's address
  };
  using answer_fn = std::function<void(std::string response, std::uint64_t applied)>;
  using serve_fn = std::function<void(incoming, answer_fn)>;
  // Takes this node's requests with `fn` (on a delivery thread: it must hand them off).
  // While `taking` (when given) says false, a request is dropped before "taken": its sender
  // hears nothing within its take bound and writes itself, as nothing ran here.
  domain::status serve(serve_fn fn, std::function<bool()> taking = {});
  // Stops taking requests: unsubscribes, and those the client still hands on (delivered
  // before, queued) are dropped before "taken", as while `taking` says false. Idempotent.
  void stop_serving();

  enum class outcome { answered, not_taken, timed_out };
  struct result {
    outcome how = outcome::not_taken;
    std::string response;  // the HTTP response's bytes, when answered
    std::uint64_t applied = 0;
  };
  // Sends `request` to `node`: `done` once, with what came of it. `take_within` bounds the
  // wait for "taken", `answer_within` the silence after it (each "working" starts it again).
  void send(const std::string& node, std::string_view request, std::string_view remote,
            std::chrono::milliseconds take_within, std::chrono::milliseconds answer_within,
            std::function<void(result)> done);

 private:
  struct impl;
  explicit cluster_forward(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace referrald::cluster
