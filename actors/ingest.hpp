#pragma once

// The ingest pool: detached actors (one thread each, off the cooperative scheduler, since
// they parse large bodies and read the store) that turn pushes into durable rows and
// answer reports.
//
// A push is parsed and validated row by row, normalized and de-duplicated (last
// occurrence of an identity wins), and stored as one atomic write through the journal
// (interfaces/journal.hpp) — in embedded mode concurrent pushes share fsyncs — and answered
// once durable. A push whose
// rows all carry the same batch_id is idempotent for 7 days per connection: the same body
// again gets the stored answer without a write, a different body gets 409
// (batch_registry handles pushes of one batch_id that race each other). In cluster mode
// the write is a message of the cluster's stream instead, answered once this node has
// applied it; a batch_id is claimed on its own subject, so that two nodes pushing it at
// once store it once.
//
// Interface:
//   push_req{brand_id, connection_id, body}  -> {"accepted","rejected","errors"} (durable)
//                                             | validation_failed | invalid_json | conflict
//   report_req{brand_id, from, to, connection_id, grouping} -> report JSON

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <chrono>
#include <cstddef>

#include "actors/batch_registry.hpp"
#include "domain/ai/ai_platforms.hpp"
#include "interfaces/journal.hpp"
#include "store/db.hpp"

namespace referrald::actors {

inline constexpr std::chrono::hours k_batch_id_ttl{24 * 7};

struct ingest_services {
  const domain::clock* clock = &domain::system_clock();  // a push's received_at
  store::db* db = nullptr;                               // reports read it
  interfaces::journal* journal = nullptr;                // pushes are stored through it
  batch_registry* registry = nullptr;
  const domain::ai_platform_list* platforms = nullptr;
};

// A round-robin pool of `workers` detached ingest actors; `svc` must outlive it.
caf::actor spawn_ingest_pool(caf::actor_system& sys, const ingest_services& svc,
                             std::size_t workers);

}  // namespace referrald::actors
