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
// Where the records are kept is the retry store's (interfaces/retry_store.hpp): this node's
// store, or the cluster's Idempotency-Key stream. What is kept, and what a verdict answers,
// is decided here.

#include <functional>
#include <string>

#include "http/exchange.hpp"
#include "http/response.hpp"
#include "interfaces/retry_store.hpp"

namespace referrald::http {

// Whether `r`, the answer to a claimed request, is kept (else the claim is given up): not a
// 5xx nor a 429, which may be retried with the same key.
bool kept(const response& r);

// The answer `r` as the retry store keeps it: as sent (for retries this process answers),
// and as written down (without a new API key's secret, which is never stored).
interfaces::kept_answer sent_copy(const response& r);
interfaces::kept_answer durable_copy(const response& r);

// The idempotency step (http/chain.hpp) of one request: what its Idempotency-Key asks —
// nothing (no header, no key, or a route without retries), a refusal (a malformed key), or
// a claim of `scope` (the caller's key id and the Idempotency-Key) for the request's
// `fingerprint` (a digest of its method, target, content type and body).
struct idempotency_claim {
  std::optional<response> refused;
  std::string scope, fingerprint, key;
};
idempotency_claim claim_of(const exchange& ex);

// The handler's `send` for a claimed request of `scope`: its answer kept (or the claim
// given up, for an answer that is not kept) before it is sent.
std::function<void(response)> keeping(interfaces::retry_store& retries, std::string scope,
                                      std::function<void(response)> send);

// The answer to a claimed request when the verdict is not `run`: the kept answer again
// (marked Idempotent-Replayed), or 409, or the reason the claim could not be made.
response claim_answer(const interfaces::retry_store::begun& b, const idempotency_claim& claim);

}  // namespace referrald::http
