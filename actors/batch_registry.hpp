#pragma once

// Pushes in flight by batch_id, so that concurrent pushes of the same batch_id (to the
// same brand and connection) make one write and get the same answer.
//
// The first push of a key claims it; it checks the store, writes if needed, and finishes
// the key with the outcome. Pushes of the same key that arrive meanwhile wait: when the
// key is finished each gets the outcome if its body is the same (same digest) as the one
// that defined the batch, and 409 otherwise. After finish() the outcome is in the store,
// where later pushes find it.
//
// Thread-safe (a mutex held only for map operations; replies are delivered outside it).

#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "actors/reply.hpp"
#include "domain/base/digest.hpp"

namespace referrald::actors {

class batch_registry {
 public:
  // True: the caller owns `key` and must call finish(key, ...). False: `reply` will be
  // answered by the owner's finish().
  bool claim_or_wait(const std::string& key, const domain::sha256_digest& digest, reply_to reply);

  // Answers every waiter of `key` and releases it. `digest` is the body digest that
  // defines the batch; `outcome` is the answer for that body.
  void finish(const std::string& key, const domain::sha256_digest& digest,
              const api_result& outcome);

  // The conflict answer for a different body under a batch_id already used.
  static domain::error conflict(const std::string& batch_id);

 private:
  struct waiter {
    domain::sha256_digest digest;
    reply_to reply;
  };
  std::mutex mu_;
  std::unordered_map<std::string, std::vector<waiter>> inflight_;
};

}  // namespace referrald::actors
