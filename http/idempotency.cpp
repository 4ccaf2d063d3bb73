#include "http/idempotency.hpp"

#include <stdexcept>

#include "infra/log.hpp"

namespace referrald::http {

namespace {

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

}  // namespace

idempotency::idempotency(store::db& db) : db_(db) {
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
    entries_.emplace(std::move(r.scope), std::move(e));
  }
  writer_ = std::thread([this] { run(); });
}

idempotency::~idempotency() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  writer_.join();
}

idempotency::verdict idempotency::begin(const std::string& scope, const std::string& fingerprint,
                                        response& stored) {
  auto now = domain::now_ms();
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
    return verdict::run;
  }
  if (it->second.fingerprint != fingerprint) return verdict::mismatch;
  if (!it->second.done) return verdict::in_progress;
  stored = it->second.answer;
  return verdict::replay;
}

bool idempotency::kept(const response& r) { return r.status < 500 && r.status != 429; }

void idempotency::complete(const std::string& scope, const response& r,
                           std::function<void()> then) {
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
  j.record.body = without_secret(r.body);
  j.then = std::move(then);
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(j));
  }
  wake_.notify_one();
}

void idempotency::abandon(const std::string& scope) {
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

}  // namespace referrald::http
