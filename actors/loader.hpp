#pragma once

// Loaders read account state from the store. They block on RocksDB, so they run as
// detached actors (own threads) in a pool, off CAF's cooperative scheduler.
//
// Interface:
//   load_account_req{account_id} -> loaded_account{state | error, snapshot_seq}
//     from the newest usable snapshot plus the events after it; when that replayed
//     `snapshot_every` events or more, a snapshot of the result is written at once.
//   write_snapshot_req{state}  (no answer) stores a snapshot of a durable state.
//   build_indexes_req{state} -> built_indexes: the state's lookup indexes built in full.
//   history_request (list/get as_of, audit) -> the answer into the request's reply.

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <cstddef>
#include <cstdint>

#include "snapshots/snapshot_store.hpp"
#include "store/db.hpp"
#include "store/event_log.hpp"

namespace referrald::actors {

struct loader_context {
  store::db* db = nullptr;
  const store::event_log* log = nullptr;
  const snapshots::snapshot_store* snaps = nullptr;
  std::uint64_t snapshot_every = 1000;  // 0: never write snapshots
};

// A round-robin pool of `workers` detached loaders; `ctx` must outlive the pool.
caf::actor spawn_loader_pool(caf::actor_system& sys, const loader_context& ctx,
                             std::size_t workers);

}  // namespace referrald::actors
