#pragma once

// Loaders rebuild an account's state from the store. They block on RocksDB, so they run
// as detached actors (own threads) in a pool, off CAF's cooperative scheduler.
//
// Interface:
//   load_account_req{account_id} -> loaded_account{state | error}

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <cstddef>

#include "store/event_log.hpp"

namespace referrald::actors {

// A round-robin pool of `workers` detached loaders reading from `log`, which must
// outlive the pool.
caf::actor spawn_loader_pool(caf::actor_system& sys, const store::event_log& log,
                             std::size_t workers);

}  // namespace referrald::actors
