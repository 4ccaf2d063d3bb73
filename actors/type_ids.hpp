#pragma once

// The one CAF type-ID block registering every message of actors/messages.hpp (loaded by
// actors::runtime), with the names CAF's logging shows. For actor sources only.

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/type_id.hpp>

#include "actors/messages.hpp"

namespace referrald::actors {

// -- inspection (names for CAF's logging; these messages never leave the process) --------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, await_loaded_req&) {
  return f(caf::meta::type_name("await_loaded_req"));
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
typename Inspector::result_type inspect(Inspector& f, key_patch_req& x) {
  return f(caf::meta::type_name("key_patch_req"), x.id, x.caller.id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, key_rotate_req& x) {
  return f(caf::meta::type_name("key_rotate_req"), x.id, x.caller.id);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, key_seen& x) {
  return f(caf::meta::type_name("key_seen"), x.id, x.at, x.expired);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, key_bootstrap_req& x) {
  return f(caf::meta::type_name("key_bootstrap_req"), x.name, x.only_if_none);
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
typename Inspector::result_type inspect(Inspector& f, admin_audit_req& x) {
  return f(caf::meta::type_name("admin_audit_req"), x.scope, x.starting_after);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, state_as_of_req& x) {
  return f(caf::meta::type_name("state_as_of_req"), x.account_id, x.as_of);
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
typename Inspector::result_type inspect(Inspector& f, copied_events& x) {
  return f(caf::meta::type_name("copied_events"), x.last_event);
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

CAF_ADD_TYPE_ID(referrald, (referrald::actors::passthrough_create_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::passthrough_patch_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::passthrough_delete_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::mapping_create_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::mapping_patch_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::mapping_delete_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::await_loaded_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::key_create_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::key_list_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::key_get_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::key_delete_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::key_patch_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::key_rotate_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::key_seen))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::connection_create_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::connection_delete_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::push_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::report_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::passthrough_list_as_of_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::passthrough_get_as_of_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::mapping_list_as_of_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::mapping_get_as_of_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::audit_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::state_as_of_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::admin_audit_req))
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
CAF_ADD_TYPE_ID(referrald, (referrald::actors::channel_create_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::channel_patch_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::channel_delete_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::channel_import_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::settings_patch_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::channel_list_as_of_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::channel_get_as_of_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::settings_get_as_of_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::key_bootstrap_req))
CAF_ADD_TYPE_ID(referrald, (referrald::actors::copied_events))

// An account actor's periodic idle check, and its last message after leaving the registry.
CAF_ADD_ATOM(referrald, referrald::actors, idle_tick_atom, "idle_tick")
CAF_ADD_ATOM(referrald, referrald::actors, evict_atom, "evict")
// An account actor's check, a moment after its last write, for a layered index to compact.
CAF_ADD_ATOM(referrald, referrald::actors, settle_atom, "settle")
// Cluster mode: the node's copy of the stream has new writes of the account (or the
// account should look again while it catches up).
CAF_ADD_ATOM(referrald, referrald::actors, cluster_sync_atom, "cl_sync")
CAF_ADD_ATOM(referrald, referrald::actors, seq_wait_atom, "seq_wait")
// Cluster mode: a record write beaten by another node's is made again.
CAF_ADD_ATOM(referrald, referrald::actors, retry_write_atom, "retry_wr")

CAF_END_TYPE_ID_BLOCK(referrald)
