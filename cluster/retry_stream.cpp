#include "cluster/retry_stream.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cluster/cluster_log.hpp"
#include "domain/base/digest.hpp"
#include "domain/base/json.hpp"
#include "domain/base/text.hpp"
#include "infra/log.hpp"
#include "infra/thread_name.hpp"
#include "store/idempotency_store.hpp"

namespace referrald::cluster {

namespace {

using interfaces::kept_answer;
using interfaces::retry_store;

// Threads asking the cluster: a claim is two round trips, and requests with keys are few.
constexpr int k_threads = 2;
constexpr int k_record_version = 1;

std::string token_of(const std::string& scope) {
  auto d = domain::sha256(scope);
  return domain::to_hex(std::string_view(reinterpret_cast<const char*>(d.data()), 16));
}

std::string record_json(std::string_view kind, const std::string& fingerprint,
                        const std::string& by, const kept_answer* answer) {
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
                               answer->body);
  }
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

struct record {
  int version = 0;
  std::string kind;
  std::string fingerprint;
  kept_answer answer;
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
  r.version = k_record_version;
  return r;
}

class retry_stream final : public retry_store {
 public:
  retry_stream(cluster_log& log, const domain::clock& clock) : log_(log), clock_(clock) {
    for (int i = 0; i < k_threads; ++i)
      threads_.emplace_back([this] {
        infra::name_thread("retry.stream");
        run();
      });
  }

  ~retry_stream() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_)
      t.join();
  }

  void begin(const std::string& scope, const std::string& fingerprint, begun_fn done) override {
    post([this, scope, fingerprint, done = std::move(done)] { done(claim(scope, fingerprint)); });
  }

  void complete(const std::string& scope, kept_answer, kept_answer durable,
                std::function<void()> then) override {
    post([this, scope, durable = std::move(durable), then = std::move(then)] {
      finish(scope, &durable);
      then();
    });
  }

  void abandon(const std::string& scope) override {
    post([this, scope] { finish(scope, nullptr); });
  }

 private:
  void post(std::function<void()> job) {
    {
      std::lock_guard lock(mu_);
      jobs_.push_back(std::move(job));
    }
    wake_.notify_one();
  }

  begun claim(const std::string& scope, const std::string& fingerprint) {
    begun out;
    const std::string token = token_of(scope);
    // Another request claiming at the same moment wins the position: look again (a few
    // times: each loss means a message was added, which the next look sees).
    for (int tries = 0; tries < 5; ++tries) {
      auto last = log_.last_claim(token);
      if (!last) {
        out.what = verdict::failed;
        out.why = last.err();
        return out;
      }
      std::uint64_t expected = 0;
      if (*last) {
        const auto& m = **last;
        record r = parse_record(m.payload);
        if (r.version == 0) {  // a newer release's: not read here
          out.what = verdict::in_progress;
          return out;
        }
        auto age = clock_.now_ms() - m.stored_ms;
        bool over =
            age >= keep_ms || r.kind == "released" || (r.kind == "claim" && age >= claim_ms);
        if (!over) {
          if (r.fingerprint != fingerprint) {
            out.what = verdict::mismatch;
          } else if (r.kind == "claim") {
            out.what = verdict::in_progress;
          } else {
            out.what = verdict::replay;
            out.kept = std::move(r.answer);
          }
          return out;
        }
        expected = m.seq;
      }
      auto claimed = log_.append_claim(
          token, record_json("claim", fingerprint, log_.new_writer(), nullptr), expected);
      if (claimed) {
        std::lock_guard lock(mu_);
        claims_[scope] = {fingerprint, *claimed};
        out.what = verdict::run;
        return out;
      }
      if (claimed.err().code != domain::errc::beaten) {
        out.what = verdict::failed;
        out.why = claimed.err();
        return out;
      }
    }
    out.what = verdict::in_progress;
    return out;
  }

  void finish(const std::string& scope, const kept_answer* answer) {
    held c;
    {
      std::lock_guard lock(mu_);
      auto it = claims_.find(scope);
      if (it == claims_.end()) return;
      c = std::move(it->second);
      claims_.erase(it);
    }
    auto stored = log_.append_claim(token_of(scope),
                                    record_json(answer != nullptr ? "answer" : "released",
                                                c.fingerprint, log_.new_writer(), answer),
                                    c.seq);
    if (!stored) {
      infra::log(infra::log_level::warn,
                 std::string(answer != nullptr ? "could not store the answer"
                                               : "could not release the claim") +
                     " of an Idempotency-Key request in the cluster (a retry is refused as in "
                     "progress for up to 10 minutes): " +
                     stored.err().message);
    }
  }

  void run() {
    for (;;) {
      std::function<void()> next;
      {
        std::unique_lock lock(mu_);
        wake_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;  // stopping, with nothing left
        next = std::move(jobs_.front());
        jobs_.pop_front();
      }
      next();
    }
  }

  // A claim this node made: its fingerprint and the claim's stream sequence.
  struct held {
    std::string fingerprint;
    std::uint64_t seq = 0;
  };

  cluster_log& log_;
  const domain::clock& clock_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  std::unordered_map<std::string, held> claims_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace

std::unique_ptr<retry_store> make_retry_stream(cluster_log& log, const domain::clock& clock) {
  return std::make_unique<retry_stream>(log, clock);
}

}  // namespace referrald::cluster
