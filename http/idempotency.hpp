#pragma once

// Idempotent retries of creating POSTs (docs/api-guide.md, "Idempotent retries"). A request with
// `Idempotency-Key: K` is recorded under (the caller's API key, K) with a fingerprint of
// the request; the answer it got is stored durably before it is sent. Within 24 hours the
// same key with the same request gets the stored answer again (with
// `Idempotent-Replayed: true`), the same key with another request gets 409, and a key whose
// request is still being answered gets 409 too. Answers of 5xx and 429 are not kept: the
// request may be retried with the same key.
//
// On a single server, records live in memory (every one of the last 24 hours, loaded at
// start) and in the store; one writer thread writes them in groups, with one fsync per
// group, and purges expired ones hourly.
//
// In cluster mode they live in the cluster's Idempotency-Key stream
// (store/cluster_log.hpp, last_claim), so that a retry behind a load balancer finds the
// first request's record on whichever node it reaches. Each (API key, Idempotency-Key)
// has a subject of its own, named by a hash; its messages are JSON:
//
//   {"v":1,"kind":"claim","fingerprint":hex,"by":writer}     the first request claims the
//        subject (expecting it empty, which JetStream checks in log order: atomic), or
//        takes over one left by a request that never finished (10 minutes) or expired
//   {"v":1,"kind":"answer","fingerprint":hex,"by":writer,"status":201,
//    "content_type":"...","headers":[[name,value],...],"body":"..."}
//        the answer, appended after the claim (expecting the claim): replayed by every node
//   {"v":1,"kind":"released","fingerprint":hex,"by":writer}
//        the claim given up (an answer that is not kept): the next request claims again
//
// The stream keeps each message 25 hours (MaxAge); a record older than 24 hours counts as
// none. A message of an unknown version (a newer release) answers 409 with Retry-After.
// Requests to the stream run on threads of this object's, never on an I/O thread.
// Thread-safe.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "domain/base/clock.hpp"
#include "http/exchange.hpp"
#include "http/response.hpp"
#include "store/cluster_log.hpp"
#include "store/idempotency_store.hpp"

namespace referrald::http {

class idempotency {
 public:
  static constexpr domain::unix_ms k_keep_ms = 24 * 3600 * 1000;
  // A claim whose request has not finished after this long is given up (a retry runs).
  static constexpr domain::unix_ms k_claim_ms = 10 * 60 * 1000;

  // Single server: loads the records of the last 24 hours from `db`; throws
  // std::runtime_error when it cannot. With `cluster`, the records are the cluster's.
  explicit idempotency(store::db& db, store::cluster_log* cluster = nullptr);
  ~idempotency();
  idempotency(const idempotency&) = delete;
  idempotency& operator=(const idempotency&) = delete;

  // run: this request has the key and goes on; replay: `stored` is the answer to send
  // again; mismatch: the key was used with another request; in_progress: its request is
  // still being answered; failed: the cluster could not be asked (`stored` says why).
  enum class verdict { run, replay, mismatch, in_progress, failed };
  using begun_fn = std::function<void(verdict, response stored)>;

  // Claims `scope` for a request with `fingerprint`, or says why not: calls `done` once,
  // at once on this thread on a single server, on a thread of this object's in cluster
  // mode.
  void begin(const std::string& scope, const std::string& fingerprint, begun_fn done);

  // Whether `r`, the answer to a claimed request, is kept (else the claim is dropped).
  static bool kept(const response& r);
  // Keeps `r` as the answer of `scope` and calls `then` (on a thread of this object's)
  // once it is durable — or could not be made so (the answer is then sent anyway; a
  // warning is logged).
  void complete(const std::string& scope, const response& r, std::function<void()> then);
  // Drops the claim of `scope` (the answer is not kept).
  void abandon(const std::string& scope);

 private:
  struct entry {
    domain::unix_ms at = 0;
    std::string fingerprint;
    bool done = false;
    response answer;
    std::uint64_t claim_seq = 0;  // cluster mode: the claim's stream sequence
  };
  struct job {
    store::idempotency_record record;
    std::function<void()> then;
  };
  void run();
  void run_cluster();
  verdict cluster_begin(const std::string& scope, const std::string& fingerprint, response& stored);
  void cluster_finish(const std::string& scope, const response* answer);

  store::db& db_;
  store::cluster_log* cluster_ = nullptr;
  std::mutex mu_;
  std::unordered_map<std::string, entry> entries_;
  std::condition_variable wake_;
  std::deque<job> queue_;
  std::deque<std::function<void()>> cluster_jobs_;
  bool stopping_ = false;
  domain::unix_ms purged_at_ = 0;
  std::vector<std::thread> threads_;
};

// The idempotency step (http/exchange.hpp) of one request: what its Idempotency-Key asks —
// nothing (no header, no key, or a route without retries), a refusal (a malformed key), or
// a claim of `scope` (the caller's key id and the Idempotency-Key) for the request's
// `fingerprint` (a digest of its method, target, content type and body).
struct idempotency_claim {
  std::optional<response> refused;
  std::string scope, fingerprint, key;
};
idempotency_claim claim_of(const exchange& ex);

// The answer to a claimed request when the verdict is not `run`: the stored answer again
// (marked Idempotent-Replayed), or 409, or the reason the claim could not be made.
response claim_answer(idempotency::verdict v, const idempotency_claim& claim, response stored);

}  // namespace referrald::http
