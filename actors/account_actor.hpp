#pragma once

// One actor per account: the only writer of the account's event stream and the owner of
// its rule state.
//
// At spawn it asks the loader pool for its state (the fold of its events) and holds
// requests back until the state is there; if loading fails or times out it answers
// them `unavailable` and quits (the registry spawns a fresh one on the next request).
//
// Mutations are validated against the state including writes still in flight, written
// as one event each through the commit queue, and answered only when their write is
// durable. Several mutations may be in flight at once; their events carry consecutive
// sequence numbers and share fsyncs.
//
// The durable state is published (an immutable snapshot in `published`) after loading
// and after every acknowledged group of writes, before those writes are answered. Request
// handling reads it directly on any thread, so reads never queue behind writes, and a
// client that got an answer to its write reads that write next time. The list/get
// messages below serve reads that arrive before the state is loaded.
//
// Interface:
//   passthrough_list_req{include_inactive}  -> {"referrers":[..],"total":n,"active_count":m}
//   passthrough_get_req{id}                 -> referrer | not_found
//   passthrough_create_req{input, key_id}   -> referrer (durable) | conflict
//   passthrough_patch_req{id, patch, key}   -> referrer (durable) | not_found | conflict
//   passthrough_delete_req{id, key_id}      -> "" (durable) | not_found
//   commit_ack{ticket, ok, error}           -> (from the commit queue) completes writes

#include <caf/typed_actor.hpp>

#include <atomic>
#include <memory>
#include <string>

#include "actors/messages.hpp"
#include "actors/services.hpp"

namespace referrald::actors {

using account_actor =
    caf::typed_actor<caf::reacts_to<passthrough_list_req>, caf::reacts_to<passthrough_get_req>,
                     caf::reacts_to<passthrough_create_req>, caf::reacts_to<passthrough_patch_req>,
                     caf::reacts_to<passthrough_delete_req>, caf::reacts_to<commit_ack>>;

// The account's durable state as last published by its actor; null until loaded.
struct published_state {
  std::atomic<std::shared_ptr<const domain::account_state>> state;
};

account_actor spawn_account_actor(caf::actor_system& sys, std::string account_id, services* svc,
                                  std::shared_ptr<published_state> published);

}  // namespace referrald::actors
