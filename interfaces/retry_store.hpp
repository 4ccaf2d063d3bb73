#pragma once

// The retry store: where the answers of requests sent with an Idempotency-Key are kept
// (docs/api-guide.md, "Idempotent retries"), one interface whatever keeps them. The runtime
// makes it once (actors/runtime.cpp):
//
// - single node: this node's RocksDB and memory (store/retry_records.hpp);
// - cluster: the cluster's Idempotency-Key stream (cluster/retry_stream.hpp), so that a
//   retry behind a load balancer finds the first request's record on whichever node it
//   reaches.
//
// A scope (an API key's id and the client's Idempotency-Key) is claimed by the first request
// with its fingerprint; the answer that request got is kept for `keep_ms` and given again to
// a request of the same scope and fingerprint. A claim whose request has not finished after
// `claim_ms` is given up (a retry runs again). What a kept answer may be, and what a verdict
// becomes in HTTP, are the caller's (http/idempotency.hpp). Every implementation passes the
// conformance suite tests/interfaces/retry_store_suite.hpp.
//
// Thread-safe. Callbacks run exactly once, on the caller's thread or one of the store's;
// they must be quick and must not block.

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "domain/base/clock.hpp"
#include "domain/base/result.hpp"

namespace referrald::interfaces {

// An answer as it is kept: what a replay sends again.
struct kept_answer {
  unsigned status = 0;
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

class retry_store {
 public:
  static constexpr domain::unix_ms keep_ms = 24 * 3600 * 1000;
  static constexpr domain::unix_ms claim_ms = 10 * 60 * 1000;

  // run: the caller has the scope and goes on; replay: `kept` is the answer to send again;
  // mismatch: the scope was claimed for another fingerprint; in_progress: its request is
  // still being answered; failed: the store could not be asked (`why` says why).
  enum class verdict { run, replay, mismatch, in_progress, failed };
  struct begun {
    verdict what = verdict::run;
    kept_answer kept;
    domain::error why;
  };
  using begun_fn = std::function<void(begun)>;

  virtual ~retry_store() = default;

  // Claims `scope` for a request with `fingerprint`, or says why not; calls `done` once.
  virtual void begin(const std::string& scope, const std::string& fingerprint, begun_fn done) = 0;

  // Keeps the answer of the claimed `scope`: `sent` for retries this process answers, and
  // `durable` (the same answer without what must never be written down: a new key's
  // secret) for everything else. Calls `then` once `durable` is durable, or could not be
  // made so (the answer is sent anyway; a warning is logged).
  virtual void complete(const std::string& scope, kept_answer sent, kept_answer durable,
                        std::function<void()> then) = 0;

  // Gives up the claim of `scope` (its answer is not kept): the next request claims again.
  virtual void abandon(const std::string& scope) = 0;
};

}  // namespace referrald::interfaces
