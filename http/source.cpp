#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include "http/framing.hpp"
#include "http/request_head.hpp"
#include "http/server_parts.hpp"
#include "infra/metrics.hpp"

namespace referrald::http {

source::source(worker& w, std::shared_ptr<server::impl> srv, std::string remote)
    : worker_(w), srv_(std::move(srv)), remote_(std::move(remote)) {
  ++srv_->live_sources;
}

source::~source() {
  counted_in_flight(false);
  srv_->source_ended();
}

void source::dispatch(std::function<void()> work) { net::dispatch(worker_.ioc, std::move(work)); }

void source::post(std::function<void()> work) { net::post(worker_.ioc, std::move(work)); }

void source::resume_from_anywhere(std::uint64_t gen, std::size_t at) {
  if (on_thread()) return resume(gen, at);
  net::post(worker_.ioc, [self = std::static_pointer_cast<source>(shared_from_this()), gen, at] {
    self->resume(gen, at);
  });
}

void source::answer_from_anywhere(std::uint64_t gen, response r) {
  if (on_thread()) return answer(gen, std::move(r));
  net::post(worker_.ioc, [self = std::static_pointer_cast<source>(shared_from_this()), gen,
                          r = std::move(r)]() mutable { self->answer(gen, std::move(r)); });
}

std::uint64_t source::wait(std::chrono::steady_clock::time_point until) {
  phase_ = phase::awaiting;
  deadline_ = until;
  return ++generation_;
}

exchange& source::next_exchange() {
  rq_.emplace();
  rq_->remote = remote_;
  rq_->parser.emplace();
  rq_->parser->header_limit(k_header_limit);
  // No limit while the header is read (Beast would otherwise judge Content-Length against
  // it before the route is known); the body step sets the route's.
  rq_->parser->body_limit(boost::none);
  return *rq_;
}

void source::request_begins() {
  if (phase_ != phase::idle) return;
  phase_ = phase::reading;
  counted_in_flight(true);
  rq_->started = now();
  deadline_ = rq_->started + srv_->options.read_timeout;
}

void source::run_chain(std::size_t at) {
  if (auto answer = srv_->steps.run(*rq_, *this, at)) finish(std::move(*answer));
}

void source::finish(response r) {
  srv_->steps.respond(*rq_, r);
  send(std::move(r));
}

void source::timed_out() {
  if (rq_->on_timeout) return finish(std::move(*std::exchange(rq_->on_timeout, std::nullopt)));
  finish(failure(domain::make_error(domain::errc::unavailable,
                                    "the request was not answered in time; it may or may not "
                                    "have taken effect")));
}

void source::account_for(const response& r, std::size_t bytes) {
  counted_in_flight(false);
  auto took = now() - rq_->started;
  log_answer(srv_->requests_log, worker_.access_lines, *rq_, r, bytes, took, remote_);
  double seconds = std::chrono::duration<double>(took).count();
  infra::metrics().http_response_bytes.observe(bytes);
  auto& m = rq_->match;
  if (rq_->routed()) {
    srv_->metrics.record(m.entry->index, r.status, seconds);
  } else if (m.kind == router::match::method_not_allowed && m.same_path != nullptr) {
    srv_->metrics.record_other_method(m.same_path->index, to_method(rq_->head().method()), r.status,
                                      seconds);
  } else {
    srv_->metrics.record(srv_->metrics.unmatched(), r.status, seconds);
  }
}

void source::counted_in_flight(bool now) {
  if (now == in_flight_) return;
  in_flight_ = now;
  infra::metrics().http_requests_in_flight.fetch_add(now ? 1 : -1, std::memory_order_relaxed);
}

}  // namespace referrald::http
