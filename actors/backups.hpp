#pragma once

// The backup actor: takes online backups of the store (snapshots/backup.hpp) and lists
// them. A checkpoint blocks for a while (it flushes memtables and links files), so the
// actor is detached (its own thread) and takes one request at a time.
//
// Interface:
//   backup_create_req -> the new backup's JSON
//   backup_list_req   -> {"snapshots":[...]}

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "domain/base/clock.hpp"
#include "store/db.hpp"

namespace referrald::actors {

// `db` and `clock` (a snapshot's created_at and name) must outlive the actor.
caf::actor spawn_backup_actor(caf::actor_system& sys, const store::db& db,
                              const domain::clock& clock);

}  // namespace referrald::actors
