#pragma once

// The server's inside (http/server.hpp), shared by its files: the I/O threads (workers),
// the server's state, and what both sources of requests — a connection (http/session.cpp)
// and a write another node forwarded (http/forwarded_request.cpp) — do alike: wait for a
// step, answer through the chain's response phase, and account for the answer.

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "http/access_log.hpp"
#include "http/chain.hpp"
#include "http/compute_pool.hpp"
#include "http/cors.hpp"
#include "http/http_metrics.hpp"
#include "http/rate_limiter.hpp"
#include "http/server.hpp"

namespace referrald::http {

namespace net = boost::asio;
using executor = net::io_context::executor_type;

class source;

// One I/O thread: its io_context, the requests living on it and their timeout sweep.
// `sources` is only touched on this worker's thread.
struct worker {
  worker() : guard(net::make_work_guard(ioc)), sweep(ioc.get_executor()) {}

  net::io_context ioc{1};
  std::optional<net::executor_work_guard<executor>> guard;
  net::basic_waitable_timer<std::chrono::steady_clock, net::wait_traits<std::chrono::steady_clock>,
                            executor>
      sweep;
  std::unordered_map<source*, std::weak_ptr<source>> sources;
  std::string access_lines;  // access log lines not yet written
};

struct server::impl : std::enable_shared_from_this<server::impl> {
  impl(server_options o, actors::runtime& rt);

  void start_accepting();
  void arm_sweep(worker& w);
  void on_sweep(worker& w);
  void wait_for_signal();
  void begin_stop();
  void stop_all();
  void serve_forwarded(interfaces::placement::incoming in, interfaces::placement::answer_fn answer);
  void leave_owners();
  // A source of requests ended: the drain may end with it.
  void source_ended();
  // Until the last source has ended (or the loops were stopped): what the placement keeps
  // on the loops stays until then. On the leaving thread.
  void wait_for_sources();
  void sources_may_have_ended();
  void loops_stopping();  // ends that wait whatever the sources

  server_options options;
  const domain::clock& clock;
  actors::runtime& runtime;
  router routes;
  rate_limiter limiter;
  rate_limiter pages_limiter;  // publishable keys', per key and client address
  cors browsers;
  access_log requests_log;
  http_metrics metrics;
  compute_pool compute;
  std::vector<std::unique_ptr<worker>> workers;
  // Where writes go (interfaces/placement.hpp): the runtime's, or this server's own when
  // none was given (every write here).
  interfaces::local_placement own_placement;
  interfaces::placement* placement;
  chain steps;
  std::size_t next_worker = 0;
  net::basic_socket_acceptor<net::ip::tcp, executor> acceptor;
  net::signal_set signals;
  net::basic_waitable_timer<std::chrono::steady_clock, net::wait_traits<std::chrono::steady_clock>,
                            executor>
      drain_timer;
  std::atomic<bool> draining{false};
  std::atomic<std::size_t> live_sources{0};
  std::thread leaving;  // leaves the owners on stop (may ask the cluster)
  std::atomic<std::size_t> next_forward_worker{0};
  // Relayed writes handed to a worker and not yet a source there.
  std::atomic<std::size_t> forwards_coming{0};
  std::mutex sources_mu;
  std::condition_variable sources_cv;
  bool loops_stopped = false;  // under sources_mu
};

// What a connection and a forwarded request share: the request's exchange, its waits and
// their deadlines (enforced by the worker's sweep), and its answer through the chain.
class source : public conversation {
 public:
  source(worker& w, std::shared_ptr<server::impl> srv, std::string remote);
  ~source() override;

  // The worker's sweep: the deadlines enforced.
  virtual void sweep(std::chrono::steady_clock::time_point now) = 0;
  // Ends the source if it is between requests (the server is stopping).
  virtual void close_if_idle() = 0;

  // conversation
  bool on_thread() const override { return worker_.ioc.get_executor().running_in_this_thread(); }
  void dispatch(std::function<void()> work) override;
  void post(std::function<void()> work) override;
  exchange& ex() override { return *rq_; }
  bool current(std::uint64_t gen) const override {
    return gen == generation_ && phase_ == phase::awaiting;
  }
  std::uint64_t wait(std::chrono::steady_clock::time_point until) override;
  void extend(std::uint64_t gen, std::chrono::steady_clock::time_point until) override {
    if (current(gen)) deadline_ = until;
  }
  void resume(std::uint64_t gen, std::size_t at) override {
    if (current(gen)) run_chain(at);
  }
  void answer(std::uint64_t gen, response r) override {
    if (current(gen)) finish(std::move(r));
  }
  void resume_from_anywhere(std::uint64_t gen, std::size_t at) override;
  void answer_from_anywhere(std::uint64_t gen, response r) override;

 protected:
  enum class phase { idle, reading, awaiting, writing, lingering, closed };

  // A new exchange for the next request.
  exchange& next_exchange();
  // The request's first byte: from now on it is in flight.
  void request_begins();
  // The chain from step `at` on; its answer, if it gives one now, finished.
  void run_chain(std::size_t at);
  // The answer: the chain's response phases, then sent by the source (send()).
  void finish(response r);
  virtual void send(response r) = 0;
  // A wait that ran out: answered 503, or with what the waiting step left for it.
  void timed_out();
  // The access log line and the metrics of an answer of `bytes` bytes.
  void account_for(const response& r, std::size_t bytes);
  // referrald_http_requests_in_flight: from a request's first byte to its answer (or to
  // the source's end).
  void counted_in_flight(bool now);
  std::chrono::steady_clock::time_point now() const { return srv_->clock.steady_now(); }

  worker& worker_;
  std::shared_ptr<server::impl> srv_;
  std::string remote_;  // the client's address
  std::optional<exchange> rq_;
  phase phase_ = phase::idle;
  std::chrono::steady_clock::time_point deadline_;
  std::uint64_t generation_ = 0;

 private:
  bool in_flight_ = false;
};

// Starts a connection's session on its worker (http/session.cpp).
void serve_connection(net::basic_stream_socket<net::ip::tcp, executor> socket, worker& w,
                      std::shared_ptr<server::impl> srv);

// Runs a write another node forwarded (http/forwarded_request.cpp) on `w`.
void serve_forwarded_request(worker& w, std::shared_ptr<server::impl> srv,
                             interfaces::placement::incoming in,
                             interfaces::placement::answer_fn answer);

}  // namespace referrald::http
