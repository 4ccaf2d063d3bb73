#pragma once

// The NATS connection under a cluster_log (cluster/cluster_log.hpp) and what the log's parts
// — the follower, the publisher, the streams' administration, the replication and server
// checks — share of it: the options, the JetStream context, the read of a subject's last
// message, and the NATS client's failures as the log reports them. Included by .cpp files of
// cluster/ only: it brings in the NATS client's header.
//
// Owned by cluster_log's implementation, which connects it in open() and destroys it last;
// every call is thread-safe as the NATS client is.

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "cluster/cluster_log.hpp"
#include "domain/base/result.hpp"

namespace referrald::cluster {

// JetStream error 10158 (nats-server 2.11 and later): a message with the same id is being
// stored and is not decided yet.
inline constexpr int k_duplicate_in_process = 10158;

// What the NATS client's status `s` (and JetStream's error `code`) means for the cluster's
// streams: unavailable when the cluster cannot take the request now (no quorum, no server,
// no leader: a retry later may succeed), else internal.
domain::error nats_error(std::string_view what, natsStatus s, jsErrCode code = jsErrCode(0));

struct log_connection {
  cluster_options options;
  natsOptions* opts = nullptr;
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  // When a look at the stream (the follower's confirmation, the replication check) last found
  // it led (or a server without a cluster).
  std::atomic<std::chrono::steady_clock::time_point> led_at{std::chrono::steady_clock::now()};

  log_connection() = default;
  ~log_connection() { close(); }
  log_connection(const log_connection&) = delete;
  log_connection& operator=(const log_connection&) = delete;

  // Connects to options.servers (retrying in the background while no server answers) and
  // opens the JetStream context; `reconnected` is called with `closure` on the client's thread
  // after a lost link came back.
  domain::status connect(natsConnectionHandler reconnected, void* closure);

  // Destroys the JetStream context, the connection and its options (each once).
  void close();

  jsOptions js_options(std::chrono::milliseconds wait) const;
  jsOptions js_options() const { return js_options(options.timeout); }

  // The options of a subscription that reads the events stream in order from stream sequence
  // `from` (0 or 1: from its first message), with `heartbeat` between idle deliveries: an
  // ephemeral push consumer kept in memory on one server, without acknowledgements, with
  // flow control — the client's "ordered" consumer without its recreation. When libnats
  // 3.4.1 (Debian 12's) recreates an ordered consumer after a gap or lost heartbeats and that
  // fails (the cluster electing leaders), it crashes the process (natsThread_Detach of a null
  // thread in _recreateOrderedCons; fixed in nats.c 3.10.0). A reader notices a gap by the
  // stream sequences or a mismatch error, and silence by its own clock, and subscribes again.
  jsSubOptions read_in_order(std::uint64_t from, std::chrono::milliseconds heartbeat) const;

  // The subject's last message in `stream` (the events stream when empty; null when it
  // has none); the caller destroys it.
  domain::result<natsMsg*> last_message(const std::string& subject, const std::string& stream = {});

  // The subject's first message in `stream` at or after stream sequence `from` (the
  // stream's "next by subject" read; null when it has none), made with the message's subject
  // and data, and its stream sequence; the caller destroys the message.
  struct sequenced {
    natsMsg* msg = nullptr;
    std::uint64_t seq = 0;
  };
  domain::result<sequenced> next_message(const std::string& subject, std::uint64_t from,
                                         const std::string& stream = {});
};

}  // namespace referrald::cluster
