#pragma once

// What the actors share: the store and the loader pool. Owned by actors::runtime, which
// outlives every actor; actors hold a plain pointer.

#include <caf/actor.hpp>

#include <chrono>

#include "store/commit_queue.hpp"
#include "store/db.hpp"
#include "store/event_log.hpp"

namespace referrald::actors {

struct services {
  store::db* db = nullptr;
  const store::event_log* log = nullptr;
  store::commit_queue* commits = nullptr;
  caf::actor loaders;  // pool of detached loader actors (actors/loader.hpp)
  std::chrono::milliseconds load_timeout{30000};
};

}  // namespace referrald::actors
