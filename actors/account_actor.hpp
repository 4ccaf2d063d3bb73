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
// client that got an answer to its write reads that write next time. It is the one read
// path: a read that arrives before the state is loaded waits for await_loaded_req.
//
// Interface:
//   passthrough_create_req{input, key_id}   -> referrer (durable) | conflict
//   passthrough_patch_req{id, patch, key}   -> referrer (durable) | not_found | conflict
//   passthrough_delete_req{id, key_id}      -> "" (durable) | not_found
//   {passthrough,mapping}_import_req{request, key_id}
//                                           -> import summary (durable, one atomic write
//                                              of one event per changed rule) | conflict
//   mapping_{create,patch,delete}_req       -> the same for referrer mappings; a patch
//                                           whose pattern does not fit the match type ->
//                                           validation_failed
//   await_loaded_req                        -> "" once the state is loaded and published
//   commit_ack{ticket, ok, error}           -> (from the commit queue) completes writes
//   idle_tick                               -> (to itself) leaves the registry when idle
//   settle                                  -> (to itself) a moment after writes stop, has
//                                              a layered index rebuilt in full
//   evict                                   -> (to itself) the last message: quit
//
// Idle actors leave: when no request arrived, nothing was read from the published state
// and no write was in flight for services::idle_timeout, the actor removes itself from
// the registry. Requests already in its mailbox are forwarded to the account's next
// actor (which loads the state afresh), so the old one never writes again and an account
// never has two writers.

#include <caf/typed_actor.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "actors/services.hpp"
#include "actors/type_ids.hpp"
#include "domain/base/clock.hpp"

namespace referrald::actors {

using account_actor =
    caf::typed_actor<caf::reacts_to<passthrough_create_req>, caf::reacts_to<passthrough_patch_req>,
                     caf::reacts_to<passthrough_delete_req>, caf::reacts_to<mapping_create_req>,
                     caf::reacts_to<mapping_patch_req>, caf::reacts_to<mapping_delete_req>,
                     caf::reacts_to<passthrough_import_req>, caf::reacts_to<mapping_import_req>,
                     caf::reacts_to<channel_create_req>, caf::reacts_to<channel_patch_req>,
                     caf::reacts_to<channel_delete_req>, caf::reacts_to<channel_import_req>,
                     caf::reacts_to<settings_patch_req>, caf::reacts_to<await_loaded_req>,
                     caf::reacts_to<commit_ack>, caf::reacts_to<idle_tick_atom>,
                     caf::reacts_to<evict_atom>, caf::reacts_to<settle_atom>,
                     caf::reacts_to<cluster_sync_atom>, caf::reacts_to<copied_events>,
                     caf::reacts_to<seq_wait_atom>>;

// The account's durable state as last published by its actor (null until loaded), and
// when readers last used it (coarse milliseconds), which keeps an idle actor alive.
struct published_state {
  std::atomic<std::shared_ptr<const domain::account_state>> state;
  std::atomic<std::int64_t> last_read_ms{0};
  // Cluster mode: the account's last event its actor has, or is sure to be told of by the
  // outcome of a write in flight (its own). The follower need not tell the actor of events
  // the node's copy brought in up to there: the actor stores it before it appends, and
  // lowers it before it reads the copy after a failed write, which then has what the
  // follower skipped.
  std::atomic<std::uint64_t> known_through{0};

  // Called by readers on any thread, at `now` (the runtime's clock); stores at most about
  // ten times a second.
  void touch(domain::unix_ms now) {
    if (last_read_ms.load(std::memory_order_relaxed) < now - 100) {
      last_read_ms.store(now, std::memory_order_relaxed);
    }
  }
};

account_actor spawn_account_actor(caf::actor_system& sys, std::string account_id, services* svc,
                                  std::shared_ptr<published_state> published);

}  // namespace referrald::actors
