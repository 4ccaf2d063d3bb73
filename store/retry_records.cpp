#include "store/retry_records.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <utility>

#include "infra/log.hpp"
#include "infra/thread_name.hpp"
#include "store/db.hpp"
#include "store/idempotency_store.hpp"

namespace referrald::store {

namespace {

using interfaces::kept_answer;
using interfaces::retry_store;

constexpr domain::unix_ms k_purge_every_ms = 3600 * 1000;

class local_retry_store final : public retry_store {
 public:
  local_retry_store(db& d, const domain::clock& clock) : db_(d), clock_(clock) {
    auto loaded = idempotency_store(db_).load_since(clock_.now_ms() - keep_ms);
    if (!loaded)
      throw std::runtime_error("cannot read the idempotency records: " + loaded.err().message);
    for (auto& r : *loaded) {
      entry e;
      e.at = r.at;
      e.fingerprint = std::move(r.fingerprint);
      e.done = true;
      e.answer = {r.status, std::move(r.content_type), std::move(r.headers), std::move(r.body)};
      entries_.emplace(std::move(r.scope), std::move(e));
    }
    writer_ = std::thread([this] {
      infra::name_thread("store.retry");
      run();
    });
  }

  ~local_retry_store() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    writer_.join();
  }

  void begin(const std::string& scope, const std::string& fingerprint, begun_fn done) override {
    auto now = clock_.now_ms();
    begun out;
    {
      std::lock_guard lock(mu_);
      auto it = entries_.find(scope);
      if (it != entries_.end() && now - it->second.at >= (it->second.done ? keep_ms : claim_ms)) {
        entries_.erase(it);  // expired, or a claim whose request never finished
        it = entries_.end();
      }
      if (it == entries_.end()) {
        entry e;
        e.at = now;
        e.fingerprint = fingerprint;
        entries_.emplace(scope, std::move(e));
      } else if (it->second.fingerprint != fingerprint) {
        out.what = verdict::mismatch;
      } else if (!it->second.done) {
        out.what = verdict::in_progress;
      } else {
        out.kept = it->second.answer;
        out.what = verdict::replay;
      }
    }
    done(std::move(out));
  }

  void complete(const std::string& scope, kept_answer sent, kept_answer durable,
                std::function<void()> then) override {
    job j;
    {
      std::lock_guard lock(mu_);
      auto it = entries_.find(scope);
      if (it == entries_.end()) {
        then();
        return;
      }
      it->second.answer = std::move(sent);  // marked done once durable (by the writer)
      j.record.scope = scope;
      j.record.at = it->second.at;
      j.record.fingerprint = it->second.fingerprint;
    }
    j.record.status = durable.status;
    j.record.content_type = std::move(durable.content_type);
    j.record.headers = std::move(durable.headers);
    j.record.body = std::move(durable.body);
    j.then = std::move(then);
    {
      std::lock_guard lock(mu_);
      queue_.push_back(std::move(j));
    }
    wake_.notify_one();
  }

  void abandon(const std::string& scope) override {
    std::lock_guard lock(mu_);
    auto it = entries_.find(scope);
    if (it != entries_.end() && !it->second.done) entries_.erase(it);
  }

 private:
  struct entry {
    domain::unix_ms at = 0;
    std::string fingerprint;
    bool done = false;
    kept_answer answer;
  };
  struct job {
    idempotency_record record;
    std::function<void()> then;
  };

  void run() {
    idempotency_store records(db_);
    for (;;) {
      std::deque<job> jobs;
      {
        std::unique_lock lock(mu_);
        wake_.wait_for(lock, std::chrono::minutes(1), [&] { return stopping_ || !queue_.empty(); });
        if (stopping_ && queue_.empty()) return;
        jobs.swap(queue_);
      }
      auto now = clock_.now_ms();
      write_batch batch;
      for (const auto& j : jobs)
        records.put(batch, j.record);
      if (now - purged_at_ >= k_purge_every_ms) {
        purged_at_ = now;
        if (auto st = records.purge(batch, now - keep_ms); !st) {
          infra::log(infra::log_level::warn,
                     "could not read the expired idempotency records: " + st.err().message);
        }
        std::lock_guard lock(mu_);
        std::erase_if(entries_,
                      [&](const auto& e) { return e.second.done && now - e.second.at >= keep_ms; });
      }
      if (!batch.empty()) {
        auto st = db_.write(batch, true);
        {
          // Replayed from now on (also when the write failed: the answer was given).
          std::lock_guard lock(mu_);
          for (const auto& j : jobs) {
            if (auto it = entries_.find(j.record.scope); it != entries_.end())
              it->second.done = true;
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

  db& db_;
  const domain::clock& clock_;
  std::mutex mu_;
  std::unordered_map<std::string, entry> entries_;
  std::condition_variable wake_;
  std::deque<job> queue_;
  bool stopping_ = false;
  domain::unix_ms purged_at_ = 0;
  std::thread writer_;
};

}  // namespace

std::unique_ptr<retry_store> make_local_retry_store(db& d, const domain::clock& clock) {
  return std::make_unique<local_retry_store>(d, clock);
}

}  // namespace referrald::store
