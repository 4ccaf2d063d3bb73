// The handler step (http/chain.hpp), the last: what the handler sees of the request
// (request_ctx), the wait for Referrald-Min-Seq, and the route's handler run, its answer
// coming back to the request through `respond` from whatever thread it is made on.

#include <charconv>

#include "http/handlers.hpp"
#include "http/http_metrics.hpp"
#include "http/idempotency.hpp"
#include "http/request_id.hpp"
#include "http/steps.hpp"
#include "infra/log.hpp"
#include "infra/metrics.hpp"

namespace referrald::http {

namespace {

namespace bhttp = boost::beast::http;

// The `Referrald-Min-Seq` of a request naming an account it may read: the sequence number
// to wait for; 0 when the request has none (or names no account it may read: then the
// header has nothing to wait for, and the handler says what is wrong).
domain::result<std::uint64_t> min_seq_of(const exchange& ex) {
  auto& req = ex.head();
  auto it = req.find("Referrald-Min-Seq");
  if (it == req.end() || ex.key == nullptr) return std::uint64_t{0};
  std::string_view text(it->value().data(), it->value().size());
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || n == 0) {
    return domain::make_error(domain::errc::validation_failed,
                              "Referrald-Min-Seq must be a positive integer",
                              {{"Referrald-Min-Seq", "must be a positive integer"}});
  }
  const tenant& t = ex.named;
  if (t.kind != tenant_of::account || t.problem) return std::uint64_t{0};
  return n;
}

void run(const route& r, request_ctx& ctx) {
  std::optional<response> immediate;
  auto failed = [&](const char* what) {
    infra::log(infra::log_level::error,
               "a handler for " + std::string(ctx.path) + " failed with an exception: " + what);
    return failure(domain::make_error(domain::errc::internal,
                                      "the server failed to handle this request; it was logged"));
  };
  try {
    immediate = r.fn(ctx);
  } catch (const std::exception& e) {
    immediate = failed(e.what());
  } catch (...) {
    immediate = failed("unknown exception");
  }
  if (immediate) ctx.respond(std::move(*immediate));
  // The handler holds what it needs of these (copies in its callbacks); the request's own
  // would hold its source, which holds the request, and keep both alive for ever.
  ctx.respond = nullptr;
  ctx.on_session = nullptr;
  ctx.stream.reset();
}

class handler_step final : public step {
 public:
  explicit handler_step(const chain_parts& parts) : p_(parts) {}
  std::string_view name() const override { return "handler"; }

  verdict request(const flow& f) override {
    exchange& ex = f.ex();
    const route& r = *ex.match.entry;
    auto& req = ex.parser->get();
    request_ctx& ctx = ex.ctx;
    auto until = p_.clock.steady_now() + p_.request_timeout;
    later resume = f.wait(until);
    ctx.verb = r.verb;
    ctx.path = ex.path;
    ctx.body = req.body();
    ctx.body_storage = &req.body();
    infra::metrics().http_request_bytes.observe(req.body().size());
    ctx.content_type = ex.field(bhttp::field::content_type);
    ctx.runtime = &p_.runtime;
    ctx.clock = &p_.clock;
    ctx.metrics = &p_.metrics;
    ctx.compute = &p_.compute;
    ctx.deadline = until;
    ctx.if_match = ex.field(bhttp::field::if_match);
    ctx.request_id = request_id_of(ex);
    if (ex.rate && ex.key_use != nullptr) {
      ctx.limiter = &p_.limiter;
      // Shares the key table's ownership: the bucket outlives the request if need be.
      ctx.rate_bucket = std::shared_ptr<std::atomic<std::int64_t>>(ex.keys, &ex.key_use->bucket);
    }
    ctx.key = ex.key;
    ctx.keys = ex.keys;
    ctx.respond = [resume](response answer) {
      resume.answer(std::move(answer));
    };
    ctx.on_session = [source = resume.source().shared_from_this()](std::function<void()> work) {
      source->post(std::move(work));
    };
    if (r.streams) ctx.stream = resume.source().open_stream(resume.generation());
    if (!ex.idempotency_scope.empty()) {
      ctx.respond = keeping(*p_.retries, std::move(ex.idempotency_scope), std::move(ctx.respond));
      ex.idempotency_scope.clear();
    }
    auto seq = min_seq_of(ex);
    if (!seq) {
      ctx.respond(failure(seq.err()));
    } else if (*seq == 0) {
      run(r, ctx);
    } else if (auto view = p_.runtime.view(ex.named.id); view && view->seq() >= *seq) {
      run(r, ctx);
    } else {
      // Read-your-writes across nodes: the handler runs once the account's published state
      // has reached the sequence number the client saw.
      p_.runtime.tell(
          ex.named.id,
          actors::await_loaded_req{
              actors::make_reply([resume, &r, respond = ctx.respond](actors::api_result reached) {
                resume.then([resume, &r, respond, reached = std::move(reached)](bool current) {
                  // Gave up meanwhile: still answered, so that a claimed Idempotency-Key is
                  // released (the request ignores the answer).
                  if (!current) {
                    return respond(failure(domain::make_error(
                        domain::errc::unavailable, "the request was not answered in time")));
                  }
                  if (!reached) return respond(failure(reached.err()));
                  run(r, resume.source().ex().ctx);
                });
              }),
              *seq});
    }
    return verdict::wait();
  }

 private:
  chain_parts p_;
};

}  // namespace

std::unique_ptr<step> make_handler_step(const chain_parts& parts) {
  return std::make_unique<handler_step>(parts);
}

}  // namespace referrald::http
