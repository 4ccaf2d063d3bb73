#pragma once

// Every message exchanged between referrald's actors and with them. No CAF here: the
// http layer builds requests without compiling CAF; actors/type_ids.hpp registers these
// types with CAF for the actor sources.
//
// Requests from outside the actor system carry a `reply` channel (actors/reply.hpp);
// the receiving actor delivers exactly one api_result into it. Messages between actors
// use CAF's request/response with a finite timeout.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <variant>

#include "actors/reply.hpp"
#include "domain/ai/ai_report.hpp"
#include "domain/ai/connection.hpp"
#include "domain/auth/api_key.hpp"
#include "domain/rules/account_state.hpp"
#include "domain/rules/entities.hpp"
#include "domain/rules/import.hpp"

namespace referrald::actors {

// -- requests to an account actor ------------------------------------------------------
// One set per rule kind T (domain::passthrough_referrer, domain::referrer_mapping).

// `input` is validated and normalized; the actor assigns id and timestamps.
template <class T>
struct create_req {
  T input;
  std::int64_t key_id = 0;
  reply_to reply;
};

template <class T>
struct patch_req {
  std::int64_t id = 0;
  domain::schema::patch<T> patch;
  std::int64_t key_id = 0;
  reply_to reply;
  std::string if_match;  // the request's If-Match ("" none): 412 unless it names the rule
};

template <class T>
struct delete_req {
  std::int64_t id = 0;
  std::int64_t key_id = 0;
  reply_to reply;
  std::string if_match;
};

// A validated import (domain/rules/import.hpp): answered with its summary once durable.
template <class T>
struct import_req {
  domain::import_request<T> request;
  std::int64_t key_id = 0;
  reply_to reply;
};

// Answered ("" ) as soon as the account's state is loaded and published (reads that need
// a published state use it when the account was not running yet), and its published
// sequence number is at least `min_seq` (the `Referrald-Min-Seq` of a request: in cluster
// mode another node's write may still be on its way). Answered `unavailable` when that
// takes longer than `k_min_seq_wait`.
struct await_loaded_req {
  reply_to reply;
  std::uint64_t min_seq = 0;
};
inline constexpr std::chrono::milliseconds k_min_seq_wait{2000};

using passthrough_create_req = create_req<domain::passthrough_referrer>;
using passthrough_patch_req = patch_req<domain::passthrough_referrer>;
using passthrough_delete_req = delete_req<domain::passthrough_referrer>;
using mapping_create_req = create_req<domain::referrer_mapping>;
using mapping_patch_req = patch_req<domain::referrer_mapping>;
using mapping_delete_req = delete_req<domain::referrer_mapping>;
using passthrough_import_req = import_req<domain::passthrough_referrer>;
using mapping_import_req = import_req<domain::referrer_mapping>;
using channel_create_req = create_req<domain::channel_rule>;
using channel_patch_req = patch_req<domain::channel_rule>;
using channel_delete_req = delete_req<domain::channel_rule>;
using channel_import_req = import_req<domain::channel_rule>;
// Settings are one object (id 1): a patch creates it from the defaults the first time.
using settings_patch_req = patch_req<domain::account_settings>;

using account_request =
    std::variant<passthrough_create_req, passthrough_patch_req, passthrough_delete_req,
                 mapping_create_req, mapping_patch_req, mapping_delete_req, passthrough_import_req,
                 mapping_import_req, channel_create_req, channel_patch_req, channel_delete_req,
                 channel_import_req, settings_patch_req, await_loaded_req>;

// -- requests to the keys actor --------------------------------------------------------

// The caller is the authenticated key; it may only create or see keys whose grants it
// covers.
struct key_create_req {
  domain::api_key_request request;
  domain::api_key caller;
  reply_to reply;
};

struct key_list_req {
  domain::api_key caller;
  reply_to reply;
  // The page: active (true, the default) or revoked (false) keys whose name holds `q`
  // (lowercase), ids above `starting_after`, at most `limit`.
  bool active = true;
  std::string q;
  std::size_t limit = 100;
  std::int64_t starting_after = 0;
};

struct key_get_req {
  std::int64_t id = 0;
  domain::api_key caller;
  reply_to reply;
};

struct key_delete_req {
  std::int64_t id = 0;
  domain::api_key caller;
  reply_to reply;
  std::string if_match;  // "" none: else 412 unless it names the key's current ETag
};

struct key_patch_req {
  std::int64_t id = 0;
  domain::api_key_patch patch;
  domain::api_key caller;
  reply_to reply;
  std::string if_match;
};

// A new secret for the key; the old one keeps working for `overlap_ms`.
struct key_rotate_req {
  std::int64_t id = 0;
  std::int64_t overlap_ms = 0;
  domain::api_key caller;
  reply_to reply;
};

// From request handling: key `id` authenticated at `at` (its last_used_at is due), or
// was refused because it expired (an entry of the keys audit stream). No answer.
struct key_seen {
  std::int64_t id = 0;
  domain::unix_ms at = 0;
  bool expired = false;
};

// At start (tools/referrald.cpp): an admin key of `secret` for every account and brand,
// named `name`, decided like every key write on the keys as the journal holds them (and made
// again on them when another node's key write came first): made unless a key of that secret
// exists (active or revoked: a revoked one is never brought back), and with `only_if_none`,
// only into a key table that is empty. Answers the key made (`created_id` set), or the key of
// that secret that exists ("null" when none does and other keys made it unneeded).
struct key_bootstrap_req {
  std::string secret;
  std::string name;
  bool only_if_none = false;
  reply_to reply;
};

using keys_request = std::variant<key_create_req, key_list_req, key_get_req, key_delete_req,
                                  key_patch_req, key_rotate_req, key_seen, key_bootstrap_req>;

// -- AI referrals ------------------------------------------------------------------------

// To the connections actor.
struct connection_create_req {
  std::int64_t brand_id = 0;
  domain::connection_request request;
  reply_to reply;
  std::int64_t key_id = 0;  // who asked (the brand's audit stream)
};

struct connection_delete_req {
  std::int64_t brand_id = 0;
  std::string id;
  reply_to reply;
  std::int64_t key_id = 0;
  std::string if_match;  // "" none: else 412 unless it names the connection's current ETag
};

using connections_request = std::variant<connection_create_req, connection_delete_req>;

// To the ingest pool. `body` is the request body, handed over without a copy; the
// connection was found active for the brand by the caller.
struct push_req {
  std::int64_t brand_id = 0;
  std::string connection_id;
  std::shared_ptr<std::string> body;
  reply_to reply;
  std::int64_t key_id = 0;  // who pushed (the brand's audit stream)
};

// `from`/`to` are days since 1970-01-01, inclusive.
struct report_req {
  std::int64_t brand_id = 0;
  std::int64_t from = 0;
  std::int64_t to = 0;
  std::optional<std::string> connection_id;
  domain::report_grouping grouping = domain::report_grouping::none;
  reply_to reply;
  domain::report_page page;
};

using ingest_request = std::variant<push_req, report_req>;

// -- reads of the past, answered by the loader pool from the store (docs/api-guide.md, "Time
// travel, audit log and backups") -------

// The rules of kind T as they stood at `as_of` (every event with a timestamp <= as_of).
template <class T>
struct list_as_of_req {
  std::string account_id;
  domain::unix_ms as_of = 0;
  domain::list_query query;
  reply_to reply;
};

template <class T>
struct get_as_of_req {
  std::string account_id;
  domain::unix_ms as_of = 0;
  std::int64_t id = 0;
  reply_to reply;
};

// Up to `limit` events of the account with seq > after_seq, in order.
struct audit_req {
  std::string account_id;
  std::uint64_t after_seq = 0;
  std::size_t limit = 100;
  reply_to reply;
};

// The whole rule state as it stood at `as_of` (resolution against the past), indexes built;
// `done` is called on a loader thread. If the request is dropped unanswered, `done` is
// called with `unavailable`.
class state_reply {
 public:
  using result = domain::result<std::shared_ptr<const domain::account_state>>;
  explicit state_reply(std::function<void(result)> done) : done_(std::move(done)) {}
  ~state_reply() {
    if (!delivered_) {
      done_(domain::make_error(domain::errc::unavailable,
                               "the request was dropped before it could be answered"));
    }
  }
  state_reply(const state_reply&) = delete;
  state_reply& operator=(const state_reply&) = delete;
  void deliver(result r) {
    if (delivered_) return;
    delivered_ = true;
    done_(std::move(r));
  }

 private:
  bool delivered_ = false;
  std::function<void(result)> done_;
};

struct state_as_of_req {
  std::string account_id;
  domain::unix_ms as_of = 0;
  std::shared_ptr<state_reply> reply;
};

// A page of an admin audit stream ("keys", "brand.<id>"): store/admin_audit.hpp.
struct admin_audit_req {
  std::string scope;
  std::string starting_after;
  std::size_t limit = 100;
  reply_to reply;
};

using passthrough_list_as_of_req = list_as_of_req<domain::passthrough_referrer>;
using passthrough_get_as_of_req = get_as_of_req<domain::passthrough_referrer>;
using mapping_list_as_of_req = list_as_of_req<domain::referrer_mapping>;
using mapping_get_as_of_req = get_as_of_req<domain::referrer_mapping>;
using channel_list_as_of_req = list_as_of_req<domain::channel_rule>;
using channel_get_as_of_req = get_as_of_req<domain::channel_rule>;
using settings_get_as_of_req = get_as_of_req<domain::account_settings>;

using history_request =
    std::variant<passthrough_list_as_of_req, passthrough_get_as_of_req, mapping_list_as_of_req,
                 mapping_get_as_of_req, channel_list_as_of_req, channel_get_as_of_req,
                 settings_get_as_of_req, audit_req, state_as_of_req, admin_audit_req>;

// -- online backups, to the backup actor ---------------------------------------------------

struct backup_create_req {
  reply_to reply;
};

struct backup_list_req {
  reply_to reply;
  std::size_t limit = 100;     // at most this many, oldest first,
  std::string starting_after;  // named after this one ("": from the first)
};

using backup_request = std::variant<backup_create_req, backup_list_req>;

// -- internal ----------------------------------------------------------------------------

// Account actor -> loader pool: store a snapshot of this (durable) state. No answer.
struct write_snapshot_req {
  std::shared_ptr<const domain::account_state> state;
};

// Account actor -> loader pool: build the lookup indexes of this (durable) state in full,
// off the actors' scheduler; the answer is built_indexes.
// Cluster mode, node -> account actor: the node's copy of the stream holds the account's
// events through `last_event`; `events` (if any) are the last write's, as the copy holds them
// (they continue the account's history there), to fold without reading them back.
struct copied_events {
  std::uint64_t last_event = 0;
  std::shared_ptr<const std::vector<domain::event>> events;
};

struct build_indexes_req {
  std::shared_ptr<const domain::account_state> state;
};

struct built_indexes {
  domain::account_state::full_indexes indexes;
};

// Account actor -> loader pool: build the account's state from the store.
struct load_account_req {
  std::string account_id;
};

// Loader -> account actor. `state` is null when loading failed; `error` then says why.
// `snapshot_seq` is the seq of the account's newest snapshot after loading (0: none).
struct loaded_account {
  std::shared_ptr<domain::account_state> state;
  std::string error;
  std::uint64_t snapshot_seq = 0;
  std::uint8_t code = 0;  // a domain::errc when there is no state
};

// Commit queue -> the actor that submitted a write: every write up to and including
// `ticket` is durable (ok) or failed.
struct commit_ack {
  std::uint64_t ticket = 0;
  bool ok = false;
  std::uint8_t code = 0;  // a domain::errc when !ok
  std::string error;
};

}  // namespace referrald::actors
