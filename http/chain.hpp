#pragma once

// The request chain: the ordered steps every request runs through, built once at start-up
// (make_chain) and shared by every I/O thread. A source of exchanges — a connection
// (http/server.cpp) or a request another node forwarded to this one as its owner — reads a
// request's head, hands its exchange to the chain, and writes whatever answer comes back.
//
// Each step has a request phase, which goes on to the next step, answers, or waits (for a
// body to be read, a claim to be decided, an owner, a handler's actor), and a response
// phase, run in reverse order on every answer (its request id, ETag, rate-limit state,
// CORS). The steps, in order (docs/architecture.md, "The request chain"):
//
//   request id       http/request_id.hpp
//   routing          http/router.hpp        the route and its path parameters; 404, 405
//   authentication   http/authentication.hpp the API key and its role
//   publishable      http/publishable.hpp   everything a publishable key may and may not do
//   CORS             http/cors.hpp          preflights; the headers an allowed origin reads
//   rate limit       http/rate_limit.hpp    a token from the caller's bucket
//   body             (the source's)         the body's limit, then the body read
//   query            http/query.hpp         the query parameters the route reads
//   tenant           http/tenant.hpp        the account or brand named, parsed once
//   owners           http/forwarding.hpp    a write sent to the node that owns it
//   members          http/forwarding.hpp    a read of every node's part: the others asked
//   idempotency      http/idempotency.hpp   an Idempotency-Key claimed, or answered again
//   entity tag       http/entity_tag.hpp    ETag, and 304 for If-None-Match
//   handler          http/handlers.hpp      Referrald-Min-Seq waited for; the route's work
//
// and, once an answer is written, the access log (http/access_log.hpp) and the route's
// metrics. Framing (http/framing.hpp) is the source's: the head read the strict way, and
// every answer — a handler's, a refusal, a shutdown's 503 — written by write_head, or
// encoded for the node that forwarded the request.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actors/runtime.hpp"
#include "http/exchange.hpp"
#include "interfaces/placement.hpp"
#include "interfaces/retry_store.hpp"

namespace referrald::http {

class access_log;
class compute_pool;
class cors;
class http_metrics;
class rate_limiter;

// Where a request comes from, as the chain sees it: it runs the steps on its own thread,
// one request at a time. Implemented by a connection's session and by a forwarded request.
class conversation : public std::enable_shared_from_this<conversation> {
 public:
  virtual ~conversation() = default;

  // Whether the caller runs on the conversation's thread.
  virtual bool on_thread() const = 0;
  // Runs `work` on the conversation's thread: at once when called there, else posted.
  virtual void dispatch(std::function<void()> work) = 0;
  // Runs `work` on the conversation's thread later (never inline).
  virtual void post(std::function<void()> work) = 0;

  // On the conversation's thread: the current request.
  virtual exchange& ex() = 0;
  // On the conversation's thread: whether `gen` is the wait the current request is in.
  virtual bool current(std::uint64_t gen) const = 0;
  // On the conversation's thread: the current request waits; answered 503 (or by the
  // answer ex.on_timeout holds) if it is still waiting at `until`. Returns its generation.
  virtual std::uint64_t wait(std::chrono::steady_clock::time_point until) = 0;
  // On the conversation's thread: the wait `gen` goes on until `until` instead.
  virtual void extend(std::uint64_t gen, std::chrono::steady_clock::time_point until) = 0;
  // On the conversation's thread: the chain goes on at step `at`, or the request is
  // answered; ignored unless `gen` is current.
  virtual void resume(std::uint64_t gen, std::size_t at) = 0;
  virtual void answer(std::uint64_t gen, response r) = 0;
  // The same from any thread: run on the conversation's thread (at once when called there).
  virtual void resume_from_anywhere(std::uint64_t gen, std::size_t at) = 0;
  virtual void answer_from_anywhere(std::uint64_t gen, response r) = 0;

  // The body step, once the body's length is within its route's limit: the body read (a
  // connection's) or already there (a forwarded request's). True: the chain goes on now;
  // false: the conversation resumes it at step `next` once the body is in, or answers.
  virtual bool take_body(exchange& ex, std::size_t next) = 0;
  // The rest of a streamed answer (route::streams) for the wait `gen`; null when the
  // conversation cannot stream.
  virtual std::shared_ptr<answer_stream> open_stream(std::uint64_t gen) = 0;
};

// A waiting step's way back to its request, from any thread.
class later {
 public:
  later(std::shared_ptr<conversation> c, std::uint64_t gen, std::size_t next)
      : c_(std::move(c)), gen_(gen), next_(next) {}

  // The chain goes on with the step after the one that waited; on the request's thread at
  // once, from any other dispatched there.
  void go_on() const { c_->resume_from_anywhere(gen_, next_); }
  void answer(response r) const { c_->answer_from_anywhere(gen_, std::move(r)); }
  // `work(current)` on the request's thread, told whether the request still waits for this
  // step.
  template <class Work>
  void then(Work work) const {
    if (c_->on_thread()) return work(c_->current(gen_));
    c_->dispatch([c = c_, gen = gen_, work = std::move(work)]() mutable { work(c->current(gen)); });
  }
  // On the request's thread: the wait lasts until `until`.
  void extend(std::chrono::steady_clock::time_point until) const { c_->extend(gen_, until); }

  conversation& source() const { return *c_; }
  std::uint64_t generation() const { return gen_; }
  std::size_t next() const { return next_; }

 private:
  std::shared_ptr<conversation> c_;
  std::uint64_t gen_;
  std::size_t next_;
};

// What a step's request phase decides.
struct verdict {
  enum kind_t { go_on, answered, waiting } kind = go_on;
  std::optional<response> answer;

  static verdict next() { return {}; }
  static verdict reply(response r) { return {answered, std::move(r)}; }
  static verdict wait() { return {waiting, std::nullopt}; }
};

// The request being run, as a step sees it: its exchange and how to wait.
class flow {
 public:
  flow(exchange& ex, conversation& c, std::size_t at) : ex_(ex), c_(c), at_(at) {}
  exchange& ex() const { return ex_; }
  conversation& source() const { return c_; }
  // The request waits until `until`; the handle resumes it at the next step, or answers.
  later wait(std::chrono::steady_clock::time_point until) const {
    return later(c_.shared_from_this(), c_.wait(until), at_ + 1);
  }
  std::size_t at() const { return at_; }

 private:
  exchange& ex_;
  conversation& c_;
  std::size_t at_;
};

class step {
 public:
  virtual ~step() = default;
  virtual std::string_view name() const = 0;
  // The request phase; the exchange's route is known from the routing step on.
  virtual verdict request(const flow& f) = 0;
  // The response phase: what the step adds to an answer (any answer: the step reads from
  // the exchange what it learnt, if it ran).
  virtual void respond(exchange&, response&) const {}
  // Whether the response phase also runs on an answer relayed from the owner of a write
  // (response::forwarded), which carries the owner's own request id, ETag and CORS headers.
  virtual bool adds_to_relayed() const { return false; }
};

// What the steps are built with: the server's parts, shared by all requests.
struct chain_parts {
  actors::runtime& runtime;
  const class router& routes;
  rate_limiter& limiter;
  rate_limiter& pages_limiter;
  const cors& browsers;
  interfaces::retry_store* retries;  // null: Idempotency-Key is ignored
  interfaces::placement& placement;
  http_metrics& metrics;
  compute_pool& compute;
  const domain::clock& clock;
  std::chrono::milliseconds request_timeout;
  std::chrono::milliseconds forward_take_timeout;
};

class chain {
 public:
  explicit chain(std::vector<std::unique_ptr<step>> steps) : steps_(std::move(steps)) {}

  // Runs the request phases of `ex` from step `at` until one answers (returned) or waits
  // (nullopt). `c` is the conversation `ex` belongs to.
  std::optional<response> run(exchange& ex, conversation& c, std::size_t at) const;

  // The response phases, in reverse order.
  void respond(exchange& ex, response& r) const;

  std::size_t size() const { return steps_.size(); }
  const step& at(std::size_t i) const { return *steps_[i]; }

 private:
  std::vector<std::unique_ptr<step>> steps_;
};

// The chain in the order above.
chain make_chain(const chain_parts& parts);

}  // namespace referrald::http
