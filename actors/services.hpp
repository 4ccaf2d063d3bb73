#pragma once

// What the actors share: the store, the loader pool and the registry's hooks. Owned by
// actors::runtime, which outlives every actor; actors hold a plain pointer.

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "actors/type_ids.hpp"
#include "domain/base/clock.hpp"
#include "interfaces/journal.hpp"
#include "store/db.hpp"
#include "store/event_log.hpp"

namespace referrald::actors {

class broken_accounts;
class table_readers;

struct services {
  // Time as the actors read it (record timestamps, idle and wait deadlines, key expiry).
  const domain::clock* clock = &domain::system_clock();
  store::db* db = nullptr;
  const store::event_log* log = nullptr;  // what loaders and audits read
  // Where every write goes, and where an actor reads back what other writers wrote (this
  // node's store, or the cluster's stream): interfaces/journal.hpp.
  interfaces::journal* journal = nullptr;
  caf::actor loaders;  // pool of detached loader actors (actors/loader.hpp)
  std::chrono::milliseconds load_timeout{30000};
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};
  std::uint64_t snapshot_every = 1000;  // events between an account's snapshots; 0: never
  std::size_t max_regex_rules = 100;    // regex mappings and channel rules an account may hold
  broken_accounts* broken = nullptr;    // accounts whose history failed verification
  // Cluster mode: told when the keys or connections actor read the node's copy again, as
  // the runtime asked (actors/table_readers.hpp). Null in embedded mode.
  table_readers* readers = nullptr;
  // Cluster mode: the node's copy does not continue what an account holds (its state, its
  // acknowledged writes): the node fills a new copy, or marks the account broken when the
  // copy was just made anew (actors/runtime.cpp). Null in embedded mode.
  std::function<void(const std::string& account, const std::string& why)> copy_misfit;

  // Registry operations for account actors. `evict` removes the account's entry if it
  // still belongs to `who` (after that no request is sent to `who` any more); `forward`
  // hands a request to the account's current actor, starting one if needed.
  std::function<bool(const std::string& account, const caf::actor_addr& who)> evict;
  std::function<void(const std::string& account, account_request req)> forward;
  // The account's settings turned insights off (docs/insights.md): what was counted goes.
  // Called on the actor's thread; must not block.
  std::function<void(const std::string& account)> insights_off;
};

}  // namespace referrald::actors
