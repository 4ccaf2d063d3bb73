#include "http/idempotency.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <stdexcept>

#include "domain/base/digest.hpp"
#include "domain/base/json.hpp"
#include "domain/base/text.hpp"
#include "http/error_table.hpp"
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
  using verdict = interfaces::retry_store::verdict;
  switch (b.what) {
    case verdict::replay: {
      response again;
      again.status = b.kept.status;
      again.content_type = b.kept.content_type;
      again.headers = b.kept.headers;
      again.body = b.kept.body;
      read_back(again);
      again.headers.emplace_back("Idempotent-Replayed", "true");
      return again;
    }
    case verdict::mismatch:
      return failure(
          domain::make_error(domain::errc::conflict,
                             "Idempotency-Key '" + domain::excerpt(claim.key) +
                                 "' was used with a different request in the last 24 hours",
                             {{"Idempotency-Key", "use a new key for a new request"}}));
    case verdict::in_progress: {
      response busy = failure(
          domain::make_error(domain::errc::conflict,
                             "a request with Idempotency-Key '" + domain::excerpt(claim.key) +
                                 "' is still being answered; retry in a moment",
                             {{"Idempotency-Key", "is in use by a request in flight"}}));
      busy.headers.emplace_back("Retry-After", "1");
      return busy;
    }
    case verdict::failed: {
      response failed = failure(b.why);
      if (failed.status == 503) failed.headers.emplace_back("Retry-After", "1");
      return failed;
    }
    case verdict::run:
      break;
  }
  return failure(domain::make_error(domain::errc::internal, "a claimed request has no answer yet"));
}

}  // namespace referrald::http
