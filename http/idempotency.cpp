#include "http/idempotency.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <stdexcept>

#include "domain/base/digest.hpp"
#include "domain/base/json.hpp"
#include "domain/base/text.hpp"
#include "http/error_table.hpp"
#include "http/steps.hpp"
#include "infra/log.hpp"

namespace referrald::http {

namespace {

// A stored answer read back as the session's answers are made: an error as its error
// (its replay's body names the replaying request's id, like every other error answer),
// a success envelope as one (its entity tag is its data's).
void read_back(response& r) {
  if (r.status >= 400) {
    if (auto e = error_of_body(r.body)) {
      r.error = std::move(e);
      r.body.clear();
    }
    return;
  }
  r.enveloped = r.body.size() > success_open.size() && r.body.starts_with(success_open) &&
                r.body.ends_with(success_close);
}

// A new API key's secret is never stored: the durable copy of a key creation's answer
// holds "secret":null (the copy in memory keeps it, for retries while the process lives).
std::string without_secret(std::string body) {
  constexpr std::string_view tag = "\"secret\":\"";
  auto at = body.find(tag);
  if (at == std::string::npos) return body;
  auto end = body.find('"', at + tag.size());
  if (end == std::string::npos) return body;
  body.replace(at + tag.size() - 1, end - (at + tag.size()) + 2, "null");
  return body;
}

}  // namespace

bool kept(const response& r) { return r.status < 500 && r.status != 429; }

interfaces::kept_answer sent_copy(const response& r) {
  return {r.status, r.content_type, r.headers, r.error ? error_body(*r.error) : r.body};
}

interfaces::kept_answer durable_copy(const response& r) {
  auto copy = sent_copy(r);
  copy.body = without_secret(std::move(copy.body));
  return copy;
}

idempotency_claim claim_of(const exchange& ex) {
  idempotency_claim out;
  if (!ex.match.entry->idempotent || ex.key == nullptr) return out;
  auto& req = ex.head();
  auto it = req.find("Idempotency-Key");
  if (it == req.end()) return out;
  std::string_view k(it->value().data(), it->value().size());
  bool sane = !k.empty() && k.size() <= 255;
  for (char ch : k)
    sane = sane && ch >= 0x21 && ch <= 0x7e;
  if (!sane) {
    out.refused = failure(domain::make_error(
        domain::errc::validation_failed, "Idempotency-Key is not a valid key",
        {{"Idempotency-Key", "must be 1-255 visible ASCII characters (a UUID, say)"}}));
    return out;
  }
  out.key = k;
  out.scope = std::to_string(ex.key->id) + "." + std::string(k);
  domain::sha256_hasher h;
  for (std::string_view part :
       {std::string_view(req.method_string().data(), req.method_string().size()),
        std::string_view(ex.target), ex.field(boost::beast::http::field::content_type),
        std::string_view(req.body())}) {
    h.update(part);
    h.update(std::string_view("\n", 1));
  }
  out.fingerprint = domain::to_hex(h.finish());
  return out;
}

response claim_answer(const interfaces::retry_store::begun& b, const idempotency_claim& claim) {
  using what = interfaces::retry_store::verdict;
  switch (b.what) {
    case what::replay: {
      response again;
      again.status = b.kept.status;
      again.content_type = b.kept.content_type;
      again.headers = b.kept.headers;
      again.body = b.kept.body;
      read_back(again);
      again.headers.emplace_back("Idempotent-Replayed", "true");
      return again;
    }
    case what::mismatch:
      return failure(
          domain::make_error(domain::errc::conflict,
                             "Idempotency-Key '" + domain::excerpt(claim.key) +
                                 "' was used with a different request in the last 24 hours",
                             {{"Idempotency-Key", "use a new key for a new request"}}));
    case what::in_progress: {
      response busy = failure(
          domain::make_error(domain::errc::conflict,
                             "a request with Idempotency-Key '" + domain::excerpt(claim.key) +
                                 "' is still being answered; retry in a moment",
                             {{"Idempotency-Key", "is in use by a request in flight"}}));
      busy.headers.emplace_back("Retry-After", "1");
      return busy;
    }
    case what::failed: {
      response failed = failure(b.why);
      if (failed.status == 503) failed.headers.emplace_back("Retry-After", "1");
      return failed;
    }
    case what::run:
      break;
  }
  return failure(domain::make_error(domain::errc::internal, "a claimed request has no answer yet"));
}

std::function<void(response)> keeping(interfaces::retry_store& retries, std::string scope,
                                      std::function<void(response)> send) {
  // Whenever the answer comes — even after the request's wait ran out or its client left —
  // it is stored durably before it is sent: a retry replays it.
  return [&retries, scope = std::move(scope), send = std::move(send)](response answered) {
    if (!kept(answered)) {
      retries.abandon(scope);
      return send(std::move(answered));
    }
    auto answer = std::make_shared<response>(std::move(answered));
    retries.complete(scope, sent_copy(*answer), durable_copy(*answer),
                     [send, answer] { send(std::move(*answer)); });
  };
}

namespace {

// The claim may ask the cluster (on a thread of its own): the request waits for it as for
// a handler, under the request timeout. A request given up meanwhile releases its claim.
class idempotency_step final : public step {
 public:
  explicit idempotency_step(const chain_parts& parts)
      : retries_(parts.retries), clock_(parts.clock), timeout_(parts.request_timeout) {}
  std::string_view name() const override { return "idempotency"; }
  verdict request(const flow& f) override {
    if (retries_ == nullptr) return verdict::next();
    auto claim = claim_of(f.ex());
    if (claim.refused) return verdict::reply(std::move(*claim.refused));
    if (claim.scope.empty()) return verdict::next();
    later resume = f.wait(clock_.steady_now() + timeout_);
    auto* retries = retries_;
    retries_->begin(claim.scope, claim.fingerprint,
                    [resume, retries, claim](interfaces::retry_store::begun b) {
                      resume.then([resume, retries, claim, b = std::move(b)](bool current) {
                        using what = interfaces::retry_store::verdict;
                        if (!current) {
                          if (b.what == what::run) retries->abandon(claim.scope);
                          return;
                        }
                        if (b.what != what::run) return resume.answer(claim_answer(b, claim));
                        resume.source().ex().idempotency_scope = claim.scope;
                        resume.go_on();
                      });
                    });
    return verdict::wait();
  }

 private:
  interfaces::retry_store* retries_;
  const domain::clock& clock_;
  std::chrono::milliseconds timeout_;
};

}  // namespace

std::unique_ptr<step> make_idempotency_step(const chain_parts& parts) {
  return std::make_unique<idempotency_step>(parts);
}

}  // namespace referrald::http
