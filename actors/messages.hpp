#pragma once

// Every message exchanged between referrald's actors and with them, and the one CAF
// type-ID block that registers them (loaded by actors::runtime).
//
// Requests from outside the actor system carry a `reply` channel (actors/reply.hpp);
// the receiving actor delivers exactly one api_result into it. Messages between actors
// use CAF's request/response with a finite timeout.

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/type_id.hpp>

#include <cstddef>
#include <cstdint>
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

template <class T>
struct list_req {
  bool include_inactive = false;
  reply_to reply;
};

template <class T>
struct get_req {
  std::int64_t id = 0;
  reply_to reply;
};

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
};

template <class T>
struct delete_req {
  std::int64_t id = 0;
  std::int64_t key_id = 0;
  reply_to reply;
};

// A validated import (domain/rules/import.hpp): answered with its summary once durable.
template <class T>
struct import_req {
  domain::import_request<T> request;
  std::int64_t key_id = 0;
  reply_to reply;
};

// Answered ("" ) as soon as the account's state is loaded and published (reads that need
// a published state use it when the account was not running yet).
struct await_loaded_req {
  reply_to reply;
};

using passthrough_list_req = list_req<domain::passthrough_referrer>;
using passthrough_get_req = get_req<domain::passthrough_referrer>;
using passthrough_create_req = create_req<domain::passthrough_referrer>;
using passthrough_patch_req = patch_req<domain::passthrough_referrer>;
using passthrough_delete_req = delete_req<domain::passthrough_referrer>;
using mapping_list_req = list_req<domain::referrer_mapping>;
using mapping_get_req = get_req<domain::referrer_mapping>;
using mapping_create_req = create_req<domain::referrer_mapping>;
using mapping_patch_req = patch_req<domain::referrer_mapping>;
using mapping_delete_req = delete_req<domain::referrer_mapping>;
using passthrough_import_req = import_req<domain::passthrough_referrer>;
using mapping_import_req = import_req<domain::referrer_mapping>;

using account_request =
    std::variant<passthrough_list_req, passthrough_get_req, passthrough_create_req,
                 passthrough_patch_req, passthrough_delete_req, mapping_list_req, mapping_get_req,
                 mapping_create_req, mapping_patch_req, mapping_delete_req, passthrough_import_req,
                 mapping_import_req, await_loaded_req>;

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
};

using keys_request = std::variant<key_create_req, key_list_req, key_get_req, key_delete_req>;

// -- AI referrals ------------------------------------------------------------------------

// To the connections actor.
struct connection_create_req {
  std::int64_t brand_id = 0;
  domain::connection_request request;
  reply_to reply;
};

struct connection_delete_req {
  std::int64_t brand_id = 0;
  std::string id;
  reply_to reply;
};

using connections_request = std::variant<connection_create_req, connection_delete_req>;

// To the ingest pool. `body` is the request body, handed over without a copy; the
// connection was found active for the brand by the caller.
struct push_req {
  std::int64_t brand_id = 0;
  std::string connection_id;
  std::shared_ptr<std::string> body;
  reply_to reply;
};

// `from`/`to` are days since 1970-01-01, inclusive.
struct report_req {
  std::int64_t brand_id = 0;
  std::int64_t from = 0;
  std::int64_t to = 0;
  std::optional<std::string> connection_id;
  domain::report_grouping grouping = domain::report_grouping::none;
  reply_to reply;
};

using ingest_request = std::variant<push_req, report_req>;

// -- reads of the past, answered by the loader pool from the store (SPEC section 9) -------

// The rules of kind T as they stood at `as_of` (every event with a timestamp <= as_of).
template <class T>
struct list_as_of_req {
  std::string account_id;
  domain::unix_ms as_of = 0;
  bool include_inactive = false;
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

using passthrough_list_as_of_req = list_as_of_req<domain::passthrough_referrer>;
using passthrough_get_as_of_req = get_as_of_req<domain::passthrough_referrer>;
using mapping_list_as_of_req = list_as_of_req<domain::referrer_mapping>;
using mapping_get_as_of_req = get_as_of_req<domain::referrer_mapping>;

using history_request = std::variant<passthrough_list_as_of_req, passthrough_get_as_of_req,
                                     mapping_list_as_of_req, mapping_get_as_of_req, audit_req>;

// -- online backups, to the backup actor ---------------------------------------------------

struct backup_create_req {
  reply_to reply;
};

struct backup_list_req {
  reply_to reply;
};

using backup_request = std::variant<backup_create_req, backup_list_req>;

// -- internal ----------------------------------------------------------------------------

// Account actor -> loader pool: store a snapshot of this (durable) state. No answer.
struct write_snapshot_req {
  std::shared_ptr<const domain::account_state> state;
};

// Account actor -> loader pool: build the lookup indexes of this (durable) state in full,
// off the actors' scheduler; the answer is built_indexes.
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

// -- inspection (names for CAF's logging; these messages never leave the process) --------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, await_loaded_req&) {
  return f(caf::meta::type_name("await_loaded_req"));
}
template <class Inspector, class T>
typename Inspector::result_type inspect(Inspector& f, list_req<T>& x) {
  return f(caf::meta::type_name("list_req"), x.include_inactive);
}
template <class Inspector, class T>
typename Inspector::result_type inspect(Inspector& f, get_req<T>& x) {
  return f(caf::meta::type_name("get_req"), x.id);
}
template <class Inspector, class T>
typename Inspector::result_type inspect(Inspector& f, create_req<T>& x) {
  return f(caf::meta::type_name("create_req"), x.key_id);
}
template <class Inspector, class T>
typename Inspector::result_type inspect(Inspector& f, patch_req<T>& x) {
  return f(caf::meta::type_name("patch_req"), x.id, x.key_id);
}
template <class Inspector, class T>
typename Inspector::result_type inspect(Inspector& f, delete_req<T>& x) {
  return f(caf::meta::type_name("delete_req"), x.id, x.key_id);
}
template <class Inspector, class T>
typename Inspector::result_type inspect(Inspector& f, import_req<T>& x) {
  return f(caf::meta::type_name("import_req"), x.key_id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, key_create_req& x) {
  return f(caf::meta::type_name("key_create_req"), x.request.name, x.caller.id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, key_list_req& x) {
  return f(caf::meta::type_name("key_list_req"), x.caller.id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, key_get_req& x) {
  return f(caf::meta::type_name("key_get_req"), x.id, x.caller.id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, key_delete_req& x) {
  return f(caf::meta::type_name("key_delete_req"), x.id, x.caller.id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, connection_create_req& x) {
  return f(caf::meta::type_name("connection_create_req"), x.brand_id, x.request.name);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, connection_delete_req& x) {
  return f(caf::meta::type_name("connection_delete_req"), x.brand_id, x.id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, push_req& x) {
  return f(caf::meta::type_name("push_req"), x.brand_id, x.connection_id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, report_req& x) {
  return f(caf::meta::type_name("report_req"), x.brand_id, x.from, x.to);
}
template <class Inspector, class T>
typename Inspector::result_type inspect(Inspector& f, list_as_of_req<T>& x) {
  return f(caf::meta::type_name("list_as_of_req"), x.account_id, x.as_of);
}
template <class Inspector, class T>
typename Inspector::result_type inspect(Inspector& f, get_as_of_req<T>& x) {
  return f(caf::meta::type_name("get_as_of_req"), x.account_id, x.as_of, x.id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, audit_req& x) {
  return f(caf::meta::type_name("audit_req"), x.account_id, x.after_seq);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, backup_create_req&) {
  return f(caf::meta::type_name("backup_create_req"));
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, backup_list_req&) {
  return f(caf::meta::type_name("backup_list_req"));
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, write_snapshot_req&) {
  return f(caf::meta::type_name("write_snapshot_req"));
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, build_indexes_req&) {
  return f(caf::meta::type_name("build_indexes_req"));
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, built_indexes& x) {
  return f(caf::meta::type_name("built_indexes"), x.indexes.seq);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, load_account_req& x) {
  return f(caf::meta::type_name("load_account_req"), x.account_id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, loaded_account& x) {
  return f(caf::meta::type_name("loaded_account"), x.error);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, commit_ack& x) {
  return f(caf::meta::type_name("commit_ack"), x.ticket, x.ok, x.code, x.error);
}

}  // namespace referrald::actors

CAF_BEGIN_TYPE_ID_BLOCK(referrald, caf::first_custom_type_id)

CAF_ADD_TYPE_ID(referrald, (referrald::actors::passthrough_list_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::passthrough_get_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::passthrough_create_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::passthrough_patch_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::passthrough_delete_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::mapping_list_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::mapping_get_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::mapping_create_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::mapping_patch_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::mapping_delete_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::await_loaded_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::key_create_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::key_list_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::key_get_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::key_delete_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::connection_create_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::connection_delete_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::push_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::report_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::passthrough_list_as_of_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::passthrough_get_as_of_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::mapping_list_as_of_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::mapping_get_as_of_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::audit_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::backup_create_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::backup_list_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::write_snapshot_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::load_account_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::loaded_account))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::commit_ack))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::build_indexes_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::built_indexes))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::passthrough_import_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::mapping_import_req))

// An account actor's periodic idle check, and its last message after leaving the registry.
CAF_ADD_ATOM(referrald, referrald::actors, idle_tick_atom, "idle_tick")
CAF_ADD_ATOM(referrald, referrald::actors, evict_atom, "evict")

CAF_END_TYPE_ID_BLOCK(referrald)
