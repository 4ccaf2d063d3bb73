#include "http/server.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/error.hpp>

#include <stdexcept>
#include <thread>
#include <vector>

#include "http/handlers.hpp"
#include "http/server_parts.hpp"
#include "infra/log.hpp"
#include "infra/metrics.hpp"
#include "infra/thread_name.hpp"

namespace referrald::http {

namespace beast = boost::beast;
using tcp = net::ip::tcp;

namespace {

constexpr auto k_sweep_period = std::chrono::milliseconds(250);

std::vector<std::unique_ptr<worker>> make_workers(std::size_t n) {
  if (n == 0) n = std::max<std::size_t>(1, std::thread::hardware_concurrency());
  std::vector<std::unique_ptr<worker>> out;
  for (std::size_t i = 0; i < n; ++i)
    out.push_back(std::make_unique<worker>());
  return out;
}

}  // namespace

server::impl::impl(server_options o, actors::runtime& rt)
    : options(std::move(o)),
      clock(options.clock != nullptr ? *options.clock : domain::system_clock()),
      runtime(rt),
      routes(make_router(options.body_limits)),
      limiter(options.rate_limit_rps, options.rate_limit_burst, clock),
      pages_limiter(options.publishable_rate_limit_rps, options.publishable_rate_limit_burst,
                    clock),
      browsers(options.cors_origins),
      metrics(routes),
      compute(options.compute_threads),
      workers(make_workers(options.io_threads)),
      placement(options.placement != nullptr ? options.placement : &own_placement),
      steps(make_chain({.runtime = runtime,
                        .routes = routes,
                        .limiter = limiter,
                        .pages_limiter = pages_limiter,
                        .browsers = browsers,
                        .retries = options.retries,
                        .placement = *placement,
                        .metrics = metrics,
                        .compute = compute,
                        .clock = clock,
                        .request_timeout = options.request_timeout,
                        .forward_take_timeout = options.forward_take_timeout})),
      acceptor(workers.front()->ioc.get_executor()),
      signals(workers.front()->ioc),
      drain_timer(workers.front()->ioc.get_executor()) {}

void server::impl::source_ended() {
  if (--live_sources == 0 && draining) {
    net::post(workers.front()->ioc, [self = shared_from_this()] { self->drain_timer.cancel(); });
    sources_may_have_ended();
  }
}

void server::impl::sources_may_have_ended() {
  std::lock_guard lock(sources_mu);
  sources_cv.notify_all();
}

void server::impl::loops_stopping() {
  std::lock_guard lock(sources_mu);
  loops_stopped = true;
  sources_cv.notify_all();
}

void server::impl::wait_for_sources() {
  std::unique_lock lock(sources_mu);
  sources_cv.wait(lock,
                  [&] { return loops_stopped || (live_sources == 0 && forwards_coming == 0); });
}

// Runs a worker's event loop until it is stopped. An exception that escapes a handler
// (none should: this is the last line of defence) is logged and counted, and the loop goes
// on: the connection whose handler threw is dropped, every other one is served.
void run_worker(worker& w) {
  for (;;) {
    try {
      w.ioc.run();
      return;
    } catch (const std::exception& e) {
      infra::metrics().io_handler_exceptions.fetch_add(1, std::memory_order_relaxed);
      infra::log(infra::log_level::error,
                 std::string("an I/O handler failed with an exception: ") + e.what());
    } catch (...) {
      infra::metrics().io_handler_exceptions.fetch_add(1, std::memory_order_relaxed);
      infra::log(infra::log_level::error, "an I/O handler failed with an unknown exception");
    }
  }
}

void server::impl::start_accepting() {
  worker& w = *workers[next_worker];
  next_worker = (next_worker + 1) % workers.size();
  acceptor.async_accept(w.ioc.get_executor(),
                        [self = shared_from_this(), &w](
                            beast::error_code ec, net::basic_stream_socket<tcp, executor> socket) {
                          if (!self->acceptor.is_open()) return;
                          if (!ec) serve_connection(std::move(socket), w, self);
                          self->start_accepting();
                        });
}

void server::impl::arm_sweep(worker& w) {
  w.sweep.expires_after(k_sweep_period);
  w.sweep.async_wait([self = shared_from_this(), &w](beast::error_code ec) {
    if (!ec) self->on_sweep(w);
  });
}

void server::impl::on_sweep(worker& w) {
  auto now = clock.steady_now();
  std::vector<std::shared_ptr<source>> live;
  for (auto it = w.sources.begin(); it != w.sources.end();) {
    if (auto s = it->second.lock()) {
      live.push_back(std::move(s));
      ++it;
    } else {
      it = w.sources.erase(it);
    }
  }
  for (auto& s : live)
    s->sweep(now);
  requests_log.flush(w.access_lines);
  if (draining && live.empty()) return;  // nothing left to watch: let the thread finish
  arm_sweep(w);
}

void server::impl::wait_for_signal() {
  signals.async_wait([self = shared_from_this()](beast::error_code ec, int signo) {
    if (ec) return;
    if (signo == SIGHUP) {
      if (self->options.on_hangup) self->options.on_hangup();
      self->requests_log.reopen();
      infra::log(infra::log_level::info, "SIGHUP: log file reopened; the server goes on");
      return self->wait_for_signal();
    }
    self->begin_stop();
  });
}

void server::impl::serve_forwarded(interfaces::placement::incoming in,
                                   interfaces::placement::answer_fn answer) {
  // Read on a worker's own loop (a peer link's), it stays there: no other thread is woken.
  worker* at = nullptr;
  for (auto& w : workers)
    if (w->ioc.get_executor().running_in_this_thread()) at = w.get();
  worker& w = at != nullptr ? *at : *workers[next_forward_worker++ % workers.size()];
  ++forwards_coming;
  net::post(w.ioc, [self = shared_from_this(), &w, in = std::move(in),
                    answer = std::move(answer)]() mutable {
    // The placement adds what this node had applied when it answered: the node that sent
    // the write waits until it has applied as much before it answers its client.
    serve_forwarded_request(w, self, std::move(in), std::move(answer));
    if (--self->forwards_coming == 0 && self->draining) self->sources_may_have_ended();
  });
}

void server::impl::begin_stop() {
  if (draining.exchange(true)) return;
  // Out of the owners first: the others own this node's accounts from now on, and what they
  // send here finds no one and is written by themselves. What was taken is answered.
  // Then, once the last request is answered, what the placement keeps on the loops (its
  // peer links) is closed, so that they run out of work.
  leaving = std::thread([self = shared_from_this()] {
    self->placement->leave();
    self->wait_for_sources();
    self->placement->close();
  });
  beast::error_code ec;
  acceptor.close(ec);
  signals.cancel(ec);
  for (auto& w : workers) {
    net::post(w->ioc, [wp = w.get()] {
      for (auto& [raw, weak] : wp->sources) {
        if (auto s = weak.lock()) s->close_if_idle();
      }
      wp->guard.reset();
    });
  }
  if (live_sources == 0) return;
  drain_timer.expires_after(options.drain_timeout);
  drain_timer.async_wait([self = shared_from_this()](beast::error_code wec) {
    if (!wec) self->stop_all();  // timed out: abandon what is still open
  });
}

void server::impl::stop_all() {
  loops_stopping();
  for (auto& w : workers)
    w->ioc.stop();
}

server::server(server_options options, actors::runtime& runtime)
    : impl_(std::make_shared<impl>(std::move(options), runtime)) {
  auto& i = *impl_;
  beast::error_code ec;
  auto address = net::ip::make_address(i.options.host, ec);
  if (ec) throw std::runtime_error("invalid listen address '" + i.options.host + "'");
  tcp::endpoint ep(address, i.options.port);
  i.acceptor.open(ep.protocol(), ec);
  if (!ec) i.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) i.acceptor.bind(ep, ec);
  if (!ec) i.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (!i.requests_log.open(i.options.access_log)) {
    throw std::runtime_error("cannot open the access log '" + i.options.access_log +
                             "' for appending");
  }
  if (ec) {
    throw std::runtime_error("cannot listen on " + i.options.host + ":" +
                             std::to_string(i.options.port) + ": " + ec.message());
  }
  interfaces::placement::loops loops;
  for (auto& w : i.workers)
    loops.push_back(&w->ioc);
  auto served = i.placement->serve(
      [weak = std::weak_ptr<impl>(impl_)](interfaces::placement::incoming in,
                                          interfaces::placement::answer_fn answer) {
        if (auto self = weak.lock()) return self->serve_forwarded(std::move(in), std::move(answer));
      },
      std::move(loops));
  if (!served) throw std::runtime_error(served.err().message);
}

// Out of the owners, and every relay still waiting answered, while the sessions its
// callbacks reach still exist. Idempotent.
void server::impl::leave_owners() {
  loops_stopping();  // they have returned, or are about to be stopped
  if (leaving.joinable()) leaving.join();
  placement->leave();
  placement->close();
}

server::~server() {
  impl_->draining = true;
  impl_->leave_owners();
  impl_->stop_all();
  impl_->compute.stop();
}

std::string server::local_endpoint() const {
  auto ep = impl_->acceptor.local_endpoint();
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

void server::run() {
  auto& i = *impl_;
  if (i.options.handle_signals) {
    i.signals.add(SIGTERM);
    i.signals.add(SIGINT);
    i.signals.add(SIGHUP);
    i.wait_for_signal();
  }
  for (auto& w : i.workers)
    i.arm_sweep(*w);
  i.start_accepting();
  std::vector<std::thread> threads;
  for (std::size_t t = 1; t < i.workers.size(); ++t) {
    threads.emplace_back([w = i.workers[t].get()] {
      infra::name_thread("http.io");
      run_worker(*w);
    });
  }
  run_worker(*i.workers.front());
  for (auto& t : threads)
    t.join();
  for (auto& w : i.workers)
    i.requests_log.flush(w->access_lines);
  i.leave_owners();
}

void server::stop() {
  net::post(impl_->workers.front()->ioc, [self = impl_] { self->begin_stop(); });
}

}  // namespace referrald::http
