#pragma once

// The HTTP/1.1 server: one acceptor and one session per connection on a pool of I/O
// threads. Each I/O thread runs its own io_context; a connection lives on one of them
// for its whole life, so a session's handlers never run concurrently and need no strand.
// Sessions parse requests, route and authenticate them, and hand them to handlers; they
// never block on an answer — an actor's reply is posted back to the session's
// io_context. Timeouts (idle, read, write, waiting for an answer) are enforced by a
// sweep every 250 ms on each thread rather than by a timer per operation.
//
// Shutdown (stop(), SIGTERM or SIGINT): stop accepting, close idle connections, let
// requests in flight finish (answered with Connection: close), and return from run()
// when they are done or after the drain timeout.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actors/runtime.hpp"
#include "domain/base/clock.hpp"
#include "http/handlers.hpp"
#include "interfaces/placement.hpp"
#include "interfaces/retry_store.hpp"

namespace referrald::http {

struct server_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;        // 0 picks a free port
  std::size_t io_threads = 0;       // 0 = one per core
  std::size_t compute_threads = 0;  // batch resolution (http/compute_pool.hpp); 0 = per core
  limits body_limits;
  std::chrono::milliseconds request_timeout{10000};  // waiting for an actor's answer
  std::chrono::milliseconds idle_timeout{60000};     // keep-alive connection without a request
  std::chrono::milliseconds read_timeout{30000};     // reading one request's header and body
  std::chrono::milliseconds drain_timeout{10000};    // finishing in-flight requests on stop
  bool handle_signals = true;                        // stop on SIGTERM / SIGINT
  std::function<void()> on_hangup;                   // SIGHUP: reload what can be reloaded
  // The access log (http/access_log.hpp): "" off, "-" stderr, or a file (SIGHUP reopens it).
  std::string access_log;
  // Token buckets per API key, and per client address for failed authentications
  // (http/rate_limiter.hpp); rps 0: no limit.
  double rate_limit_rps = 0;
  double rate_limit_burst = 0;
  // A publishable key's buckets: one per key and client address (its secret is public, so
  // a page's visitors each have their own); rps 0: no limit.
  double publishable_rate_limit_rps = 0;
  double publishable_rate_limit_burst = 0;
  // Origins whose browser pages may call the API (CORS); empty: none.
  std::vector<std::string> cors_origins;
  // Where Idempotency-Key records are kept (interfaces/retry_store.hpp: the runtime's
  // retries()); null: the header is ignored.
  interfaces::retry_store* retries = nullptr;
  // Where writes go (interfaces/placement.hpp: the runtime's placement()): this node, or in
  // cluster mode the owner of the account or brand, to which the write is relayed. The
  // server takes writes relayed to it from start to stop. Null: every write is made here.
  interfaces::placement* placement = nullptr;
  // Time as the server reads it (timeouts, key expiry, rate limits); null: the machine's.
  const domain::clock* clock = nullptr;
  // How long an owner may take to take a forwarded write before this node writes itself.
  std::chrono::milliseconds forward_take_timeout{1000};
};

class server {
 public:
  // Binds the listening socket. Throws std::runtime_error when it cannot.
  server(server_options options, actors::runtime& runtime);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // "HOST:PORT" actually bound (the real port when 0 was asked for).
  std::string local_endpoint() const;

  // Serves on the I/O threads (the calling thread is one of them) until stopped; it has
  // left the owners (placement) when it returns.
  void run();

  // Begins a graceful stop; thread-safe, idempotent.
  void stop();

  struct impl;  // http/server_parts.hpp

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace referrald::http
