#pragma once

// Idempotent retries of creating POSTs (docs/api-guide.md, "Idempotent retries"). A request with
// `Idempotency-Key: K` is recorded under (the caller's API key, K) with a fingerprint of
// the request; the answer it got is stored durably (synced) before it is sent. Within 24
// hours the same key with the same request gets the stored answer again (with
// `Idempotent-Replayed: true`), the same key with another request gets 409, and a key whose
// request is still being answered gets 409 too. Answers of 5xx and 429 are not kept: the
// request may be retried with the same key.
//
// Records live in memory (every one of the last 24 hours, loaded at start) and in the
// store; one writer thread writes them in groups, with one fsync per group, and purges
// expired ones hourly. Thread-safe.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "domain/base/clock.hpp"
#include "http/response.hpp"
#include "store/idempotency_store.hpp"

namespace referrald::http {

class idempotency {
 public:
  static constexpr domain::unix_ms k_keep_ms = 24 * 3600 * 1000;
  // A claim whose request has not finished after this long is given up (a retry runs).
  static constexpr domain::unix_ms k_claim_ms = 10 * 60 * 1000;

  // Loads the records of the last 24 hours; throws std::runtime_error when it cannot.
  explicit idempotency(store::db& db);
  ~idempotency();
  idempotency(const idempotency&) = delete;
  idempotency& operator=(const idempotency&) = delete;

  enum class verdict { run, replay, mismatch, in_progress };
  // Claims `scope` for a request with `fingerprint` (verdict::run), or says why not; with
  // verdict::replay, `stored` is the answer to send again.
  verdict begin(const std::string& scope, const std::string& fingerprint, response& stored);

  // Whether `r`, the answer to a claimed request, is kept (else the claim is dropped).
  static bool kept(const response& r);
  // Keeps `r` as the answer of `scope` and calls `then` (on the writer thread) once it is
  // durable — or could not be made so (the answer is then sent anyway; the record stays in
  // memory and a warning is logged).
  void complete(const std::string& scope, const response& r, std::function<void()> then);
  // Drops the claim of `scope` (the answer is not kept).
  void abandon(const std::string& scope);

 private:
  struct entry {
    domain::unix_ms at = 0;
    std::string fingerprint;
    bool done = false;
    response answer;
  };
  struct job {
    store::idempotency_record record;
    std::function<void()> then;
  };
  void run();

  store::db& db_;
  std::mutex mu_;
  std::unordered_map<std::string, entry> entries_;
  std::condition_variable wake_;
  std::deque<job> queue_;
  bool stopping_ = false;
  domain::unix_ms purged_at_ = 0;
  std::thread writer_;
};

}  // namespace referrald::http
