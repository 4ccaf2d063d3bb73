#pragma once

// The keys actor: the only writer of API keys. After every durable change it publishes a
// new immutable key table, which request handling reads on any thread to authenticate.
// A revoked key stops authenticating as soon as its revocation is acknowledged.
//
// A caller (an admin key) may create, see and revoke only keys whose accounts and brands
// it holds itself; other keys are invisible to it (404).
//
// Interface:
//   key_create_req{request, caller} -> key + "secret" (durable) | forbidden
//   key_list_req{caller}            -> [key, ...] (active keys visible to the caller)
//   key_get_req{id, caller}         -> key | not_found
//   key_delete_req{id, caller}      -> "" (durable) | not_found | conflict (it is the last
//                                      active admin key holding every account and brand)
//   key_patch_req{id, patch, caller} -> key (durable) | not_found | precondition_failed
//   key_rotate_req{id, overlap, caller} -> key + "secret" (durable) | not_found
//   key_seen{id, at, expired}       -> records last_used_at, or an expired key's use
//   key_bootstrap_req{secret, name, only_if_none} -> the admin key made, or the one that
//                                      exists (messages.hpp)
//   commit_ack{ticket, ok, error}   -> (from the commit queue) completes writes
//   cluster_sync_atom               -> reads the keys again (cluster mode: the node's copy
//                                      applied another node's change)
//   retry_write_atom                -> makes a change beaten by another node's again
//
// Every change is recorded in the keys audit stream (store/admin_audit.hpp) in the same
// write. In cluster mode every key change of the cluster claims the position of one
// subject (actors/write_pipeline.hpp, fenced_records): changes are decided one at a time
// on what every earlier one left, so that no key comes back after its revocation and the
// last full admin key cannot be revoked by two nodes at once; last_used_at is recorded as
// in embedded mode, and a use record beaten by a change is dropped.

#include <caf/typed_actor.hpp>

#include <functional>
#include <memory>
#include <vector>

#include "actors/services.hpp"
#include "actors/type_ids.hpp"

namespace referrald::actors {

using keys_actor = caf::typed_actor<
    caf::reacts_to<key_create_req>, caf::reacts_to<key_list_req>, caf::reacts_to<key_get_req>,
    caf::reacts_to<key_delete_req>, caf::reacts_to<key_patch_req>, caf::reacts_to<key_rotate_req>,
    caf::reacts_to<key_seen>, caf::reacts_to<key_bootstrap_req>, caf::reacts_to<commit_ack>,
    caf::reacts_to<cluster_sync_atom>, caf::reacts_to<retry_write_atom>>;

using key_table_publisher = std::function<void(std::shared_ptr<const domain::key_table>)>;

// `keys` is every stored key (revoked ones included); `publish` is called with the
// initial table before this returns and after every durable change.
keys_actor spawn_keys_actor(caf::actor_system& sys, std::vector<domain::api_key> keys,
                            services* svc, key_table_publisher publish);

}  // namespace referrald::actors
