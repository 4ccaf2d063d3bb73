#pragma once

// The retry store (interfaces/retry_store.hpp) of cluster mode: the cluster's
// Idempotency-Key stream (cluster_log's last_claim and append_claim), so that a retry behind
// a load balancer finds the first request's record on whichever node it reaches. Each scope
// has a subject of its own, named by the first 128 bits of the scope's SHA-256 as hex; its
// messages are JSON:
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
// none. A message of an unknown version (a newer release) is in_progress. Requests to the
// stream run on two threads of this object's, never on the caller's.

#include <memory>

#include "domain/base/clock.hpp"
#include "interfaces/retry_store.hpp"

namespace referrald::cluster {

class cluster_log;

// `log` and `clock` must outlive the store.
std::unique_ptr<interfaces::retry_store> make_retry_stream(
    cluster_log& log, const domain::clock& clock = domain::system_clock());

}  // namespace referrald::cluster
