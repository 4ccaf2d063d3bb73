#pragma once

// The connections actor: the only writer of AI-referral connections. After every
// durable change it publishes an immutable connection_table (actors/connection_table.hpp),
// which request handling and
// the ingest pool read on any thread (a push to a connection that is not in the table
// as active for its brand is refused with 404).
//
// Interface:
//   connection_create_req{brand_id, request} -> connection (durable)
//   connection_delete_req{brand_id, id}      -> "" (durable) | not_found
//   commit_ack{ticket, ok, error}            -> (from the commit queue) completes writes
//   cluster_sync_atom                        -> reads the connections again (cluster mode)
//   retry_write_atom                         -> makes a change beaten by another node's again
//
// In cluster mode each change claims the position of its brand's subject, decided on what
// every earlier change of the brand left (actors/write_pipeline.hpp, fenced_records): a
// delete never meets a copy that missed another node's change.

#include <caf/typed_actor.hpp>

#include <vector>

#include "actors/connection_table.hpp"
#include "actors/services.hpp"
#include "actors/type_ids.hpp"

namespace referrald::actors {

using connections_actor =
    caf::typed_actor<caf::reacts_to<connection_create_req>, caf::reacts_to<connection_delete_req>,
                     caf::reacts_to<commit_ack>, caf::reacts_to<cluster_sync_atom>,
                     caf::reacts_to<retry_write_atom>>;

// `all` is every stored connection; `publish` is called with the initial table before
// this returns and after every durable change.
connections_actor spawn_connections_actor(caf::actor_system& sys,
                                          std::vector<domain::connection> all, services* svc,
                                          connection_table_publisher publish);

}  // namespace referrald::actors
