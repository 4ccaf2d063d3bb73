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

constexpr domain::unix_ms k_purge_every_ms = 3600 * 1000;

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

// Threads asking the cluster: a claim is two round trips, and requests with keys are few.
constexpr int k_cluster_threads = 2;
constexpr int k_record_version = 1;

// The subject token of a scope: the first 128 bits of its SHA-256, as hex (an API key id
// and a client's Idempotency-Key make no subject token as they are).
std::string token_of(const std::string& scope) {
  auto d = domain::sha256(scope);
  return domain::to_hex(std::string_view(reinterpret_cast<const char*>(d.data()), 16));
}

// A message of an Idempotency-Key subject (http/idempotency.hpp).
std::string record_json(std::string_view kind, const std::string& fingerprint,
                        const std::string& by, const response* answer) {
  rapidjson::StringBuffer buf;
  domain::json_writer w(buf);
  w.StartObject();
  w.Key("v");
  w.Int(k_record_version);
  w.Key("kind");
  domain::write_string(w, kind);
  w.Key("fingerprint");
  domain::write_string(w, fingerprint);
  w.Key("by");
  domain::write_string(w, by);
  if (answer != nullptr) {
    store::write_answer_fields(w, answer->status, answer->content_type, answer->headers,
                               without_secret(answer->body));
  }
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

struct record {
  int version = 0;
  std::string kind;
  std::string fingerprint;
  response answer;
};

// The message as a record; version 0 when it is none this release reads.
record parse_record(const std::string& payload) {
  record r;
  rapidjson::Document d;
  if (!domain::parse_json(payload, d).ok() || !d.IsObject()) return r;
  auto str = [&](const char* key) -> std::string {
    auto it = d.FindMember(key);
    return it != d.MemberEnd() && it->value.IsString() ? it->value.GetString() : std::string();
  };
  auto v = d.FindMember("v");
  if (v == d.MemberEnd() || !v->value.IsInt() || v->value.GetInt() != k_record_version) return r;
  r.kind = str("kind");
  r.fingerprint = str("fingerprint");
  if (r.kind == "answer") {
    if (!store::read_answer_fields(d, r.answer.status, r.answer.content_type, r.answer.headers,
                                   r.answer.body)) {
      return r;
    }
  } else if (r.kind != "claim" && r.kind != "released") {
    return r;
  }
  read_back(r.answer);
  r.version = k_record_version;
  return r;
}

}  // namespace

idempotency::idempotency(store::db& db, store::cluster_log* cluster) : db_(db), cluster_(cluster) {
  if (cluster_ != nullptr) {
    for (int i = 0; i < k_cluster_threads; ++i)
      threads_.emplace_back([this] { run_cluster(); });
    return;
  }
  auto now = domain::now_ms();
  auto loaded = store::idempotency_store(db).load_since(now - k_keep_ms);
  if (!loaded)
    throw std::runtime_error("cannot read the idempotency records: " + loaded.err().message);
  for (auto& r : *loaded) {
    entry e;
    e.at = r.at;
    e.fingerprint = std::move(r.fingerprint);
    e.done = true;
    e.answer.status = r.status;
    e.answer.content_type = std::move(r.content_type);
    e.answer.headers = std::move(r.headers);
    e.answer.body = std::move(r.body);
    read_back(e.answer);
    entries_.emplace(std::move(r.scope), std::move(e));
  }
  threads_.emplace_back([this] { run(); });
}

idempotency::~idempotency() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_)
    t.join();
}

void idempotency::begin(const std::string& scope, const std::string& fingerprint, begun_fn done) {
  if (cluster_ != nullptr) {
    {
      std::lock_guard lock(mu_);
      cluster_jobs_.push_back([this, scope, fingerprint, done = std::move(done)] {
        response stored;
        verdict v = cluster_begin(scope, fingerprint, stored);
        done(v, std::move(stored));
      });
    }
    wake_.notify_one();
    return;
  }
  auto now = domain::now_ms();
  response stored;
  verdict v = verdict::run;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(scope);
    if (it != entries_.end() && now - it->second.at >= (it->second.done ? k_keep_ms : k_claim_ms)) {
      entries_.erase(it);  // expired, or a claim whose request never finished
      it = entries_.end();
    }
    if (it == entries_.end()) {
      entry e;
      e.at = now;
      e.fingerprint = fingerprint;
      entries_.emplace(scope, std::move(e));
    } else if (it->second.fingerprint != fingerprint) {
      v = verdict::mismatch;
    } else if (!it->second.done) {
      v = verdict::in_progress;
    } else {
      stored = it->second.answer;
      v = verdict::replay;
    }
  }
  done(v, std::move(stored));
}

idempotency::verdict idempotency::cluster_begin(const std::string& scope,
                                                const std::string& fingerprint, response& stored) {
  const std::string token = token_of(scope);
  // Another request claiming at the same moment wins the position: look again (a few
  // times: each loss means a message was added, which the next look sees).
  for (int tries = 0; tries < 5; ++tries) {
    auto last = cluster_->last_claim(token);
    if (!last) {
      stored = failure(last.err());
      return verdict::failed;
    }
    std::uint64_t expected = 0;
    if (*last) {
      const auto& m = **last;
      record r = parse_record(m.payload);
      if (r.version == 0) return verdict::in_progress;  // a newer release's: not read here
      auto age = domain::now_ms() - m.stored_ms;
      bool over =
          age >= k_keep_ms || r.kind == "released" || (r.kind == "claim" && age >= k_claim_ms);
      if (!over) {
        if (r.fingerprint != fingerprint) return verdict::mismatch;
        if (r.kind == "claim") return verdict::in_progress;
        stored = std::move(r.answer);
        return verdict::replay;
      }
      expected = m.seq;
    }
    auto claimed = cluster_->append_claim(
        token, record_json("claim", fingerprint, cluster_->new_writer(), nullptr), expected);
    if (claimed) {
      std::lock_guard lock(mu_);
      entry e;
      e.at = domain::now_ms();
      e.fingerprint = fingerprint;
      e.claim_seq = *claimed;
      entries_[scope] = std::move(e);
      return verdict::run;
    }
    if (claimed.err().code != domain::errc::beaten) {
      stored = failure(claimed.err());
      return verdict::failed;
    }
  }
  return verdict::in_progress;
}

void idempotency::cluster_finish(const std::string& scope, const response* answer) {
  entry e;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(scope);
    if (it == entries_.end()) return;
    e = std::move(it->second);
    entries_.erase(it);
  }
  auto stored = cluster_->append_claim(token_of(scope),
                                       record_json(answer != nullptr ? "answer" : "released",
                                                   e.fingerprint, cluster_->new_writer(), answer),
                                       e.claim_seq);
  if (!stored) {
    infra::log(infra::log_level::warn,
               std::string(answer != nullptr ? "could not store the answer"
                                             : "could not release the claim") +
                   " of an Idempotency-Key request in the cluster (a retry is refused as in "
                   "progress for up to 10 minutes): " +
                   stored.err().message);
  }
}

void idempotency::run_cluster() {
  for (;;) {
    std::function<void()> next;
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [&] { return stopping_ || !cluster_jobs_.empty(); });
      if (cluster_jobs_.empty()) return;  // stopping, with nothing left
      next = std::move(cluster_jobs_.front());
      cluster_jobs_.pop_front();
    }
    next();
  }
}

bool idempotency::kept(const response& r) { return r.status < 500 && r.status != 429; }

void idempotency::complete(const std::string& scope, const response& r,
                           std::function<void()> then) {
  if (cluster_ != nullptr) {
    {
      std::lock_guard lock(mu_);
      cluster_jobs_.push_back([this, scope, r, then = std::move(then)] {
        cluster_finish(scope, &r);
        then();
      });
    }
    wake_.notify_one();
    return;
  }
  job j;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(scope);
    if (it == entries_.end()) {
      then();
      return;
    }
    it->second.answer = r;  // marked done once durable (by the writer)
    j.record.scope = scope;
    j.record.at = it->second.at;
    j.record.fingerprint = it->second.fingerprint;
  }
  j.record.status = r.status;
  j.record.content_type = r.content_type;
  j.record.headers = r.headers;
  j.record.body = without_secret(r.error ? error_body(*r.error) : r.body);
  j.then = std::move(then);
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(j));
  }
  wake_.notify_one();
}

void idempotency::abandon(const std::string& scope) {
  if (cluster_ != nullptr) {
    {
      std::lock_guard lock(mu_);
      cluster_jobs_.push_back([this, scope] { cluster_finish(scope, nullptr); });
    }
    wake_.notify_one();
    return;
  }
  std::lock_guard lock(mu_);
  auto it = entries_.find(scope);
  if (it != entries_.end() && !it->second.done) entries_.erase(it);
}

void idempotency::run() {
  store::idempotency_store records(db_);
  for (;;) {
    std::deque<job> jobs;
    {
      std::unique_lock lock(mu_);
      wake_.wait_for(lock, std::chrono::minutes(1), [&] { return stopping_ || !queue_.empty(); });
      if (stopping_ && queue_.empty()) return;
      jobs.swap(queue_);
    }
    auto now = domain::now_ms();
    store::write_batch batch;
    for (const auto& j : jobs)
      records.put(batch, j.record);
    if (now - purged_at_ >= k_purge_every_ms) {
      purged_at_ = now;
      if (auto st = records.purge(batch, now - k_keep_ms); !st) {
        infra::log(infra::log_level::warn,
                   "could not read the expired idempotency records: " + st.err().message);
      }
      std::lock_guard lock(mu_);
      std::erase_if(entries_,
                    [&](const auto& e) { return e.second.done && now - e.second.at >= k_keep_ms; });
    }
    if (!batch.empty()) {
      auto st = db_.write(batch, true);
      {
        // Replayed from now on (also when the write failed: the answer was given).
        std::lock_guard lock(mu_);
        for (const auto& j : jobs) {
          if (auto it = entries_.find(j.record.scope); it != entries_.end()) it->second.done = true;
        }
      }
      if (!st) {
        infra::log(
            infra::log_level::warn,
            "could not store " + std::to_string(jobs.size()) +
                " idempotency records (kept in memory until a restart): " + st.err().message);
      }
    }
    for (auto& j : jobs)
      j.then();
  }
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

response claim_answer(idempotency::verdict v, const idempotency_claim& claim, response stored) {
  switch (v) {
    case idempotency::verdict::replay:
      stored.headers.emplace_back("Idempotent-Replayed", "true");
      return stored;
    case idempotency::verdict::mismatch:
      return failure(
          domain::make_error(domain::errc::conflict,
                             "Idempotency-Key '" + domain::excerpt(claim.key) +
                                 "' was used with a different request in the last 24 hours",
                             {{"Idempotency-Key", "use a new key for a new request"}}));
    case idempotency::verdict::in_progress: {
      response busy = failure(
          domain::make_error(domain::errc::conflict,
                             "a request with Idempotency-Key '" + domain::excerpt(claim.key) +
                                 "' is still being answered; retry in a moment",
                             {{"Idempotency-Key", "is in use by a request in flight"}}));
      busy.headers.emplace_back("Retry-After", "1");
      return busy;
    }
    case idempotency::verdict::failed:
      if (stored.status == 503) stored.headers.emplace_back("Retry-After", "1");
      return stored;
    case idempotency::verdict::run:
      break;
  }
  return failure(domain::make_error(domain::errc::internal, "a claimed request has no answer yet"));
}

}  // namespace referrald::http
