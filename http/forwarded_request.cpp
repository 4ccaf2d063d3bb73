// A write another node forwarded to this one as its owner (interfaces/placement.hpp): the
// second source of requests. Its bytes are read as a connection's head is (the same strict
// checks), its body is whole, and it runs the same chain; its answer — whatever it is,
// including the 503 of a server that stops before answering — is framed for the node it
// came from by encode_forwarded_answer (http/forwarding.hpp).

#include "http/forwarding.hpp"
#include "http/request_head.hpp"
#include "http/request_id.hpp"
#include "http/server_parts.hpp"
#include "infra/metrics.hpp"

namespace referrald::http {

namespace {

class forwarded_request final : public source {
 public:
  forwarded_request(worker& w, std::shared_ptr<server::impl> srv, std::string remote,
                    interfaces::placement::answer_fn answer)
      : source(w, std::move(srv), std::move(remote)), answer_(std::move(answer)) {}

  // Stopped before its answer: the node it came from is told so, never left waiting.
  ~forwarded_request() override {
    if (!answer_) return;
    response stopped = failure(
        domain::make_error(domain::errc::unavailable, "the owner stopped before answering"));
    // The error's body, as the request id step writes every error's.
    stamp_request_id(stopped, rq_ && !rq_->request_id.empty() ? rq_->request_id : new_request_id());
    frame(stopped);
  }

  void start(std::string request) {
    worker_.sources.emplace(this, std::static_pointer_cast<source>(shared_from_this()));
    exchange& ex = next_exchange();
    ex.forwarded_in = true;
    request_begins();
    auto end = request.find("\r\n\r\n");
    if (end == std::string::npos) {
      return refuse(domain::make_error(domain::errc::bad_request,
                                       "the forwarded request has no end of header"));
    }
    if (auto bad = read_request_head(*ex.parser, std::string_view(request.data(), end + 4))) {
      return refuse(std::move(*bad));
    }
    body_ = request.substr(end + 4);
    // Framed by encode_forwarded_request: the whole body, its length in Content-Length.
    auto length = ex.parser->content_length();
    if (ex.parser->chunked() || length.value_or(0) != body_.size()) {
      return refuse(domain::make_error(
          domain::errc::bad_request,
          "the forwarded request's body is " + std::to_string(body_.size()) +
              " bytes, its header says " +
              (ex.parser->chunked() ? std::string("chunked")
                                    : std::to_string(length.value_or(0)) + " (Content-Length)")));
    }
    ex.has_body = !body_.empty();
    run_chain(0);
  }

  void sweep(std::chrono::steady_clock::time_point now) override {
    if (phase_ == phase::awaiting && now >= deadline_) timed_out();
  }
  void close_if_idle() override {}

  bool take_body(exchange& ex, std::size_t) override {
    ex.parser->get().body() = std::move(body_);
    ex.body_read = true;
    return true;
  }
  std::shared_ptr<answer_stream> open_stream(std::uint64_t) override { return nullptr; }

 private:
  void refuse(domain::error e) {
    rq_->match = {};
    finish(failure(std::move(e)));
  }

  void send(response r) override {
    account_for(r, r.body.size());
    infra::metrics().cluster_forwards_served.fetch_add(1, std::memory_order_relaxed);
    frame(r);
    phase_ = phase::closed;
  }

  void frame(const response& r) { std::exchange(answer_, nullptr)(encode_forwarded_answer(r)); }

  interfaces::placement::answer_fn answer_;
  std::string body_;
};

}  // namespace

void serve_forwarded_request(worker& w, std::shared_ptr<server::impl> srv,
                             interfaces::placement::incoming in,
                             interfaces::placement::answer_fn answer) {
  auto r = std::make_shared<forwarded_request>(w, std::move(srv), std::move(in.remote),
                                               std::move(answer));
  r->start(std::move(in.request));
}

}  // namespace referrald::http
