#include "actors/keys_actor.hpp"

#include "domain/base/pager.hpp"
#include "domain/base/text.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <map>

#include "actors/guard.hpp"
#include "actors/table_readers.hpp"
#include "actors/write_pipeline.hpp"
#include "infra/log.hpp"
#include "store/admin_audit.hpp"
#include "store/key_store.hpp"

namespace referrald::actors {

namespace {

struct keys_actor_state {
  static inline const char* name = "referrald.keys";

  services* svc = nullptr;
  key_table_publisher publish;
  std::shared_ptr<const domain::key_table> table;  // the last one published
  std::map<std::int64_t, domain::api_key> committed;
  std::map<std::int64_t, domain::api_key> tip;

  // Every key write claims the position of the journal's scope "keys" (in cluster mode,
  // the subject "referrald.records.keys" of the stream: cluster/cluster_log.hpp), so that
  // each is decided on all the key writes before it: one at a time, each decided on the
  // keys as the store has them (`committed`, read back from it; every node's follower
  // keeps the same) at position `keys_head`, and made again when another node's came first.
  fenced_records<domain::api_key> fenced;
  std::uint64_t keys_head = 0;
  std::optional<std::uint64_t> read_at;  // the position the keys were last read at
};

using self_ptr = keys_actor::stateful_pointer<keys_actor_state>;

std::string key_json(const domain::api_key& k, std::string_view secret = {}) {
  rapidjson::StringBuffer buf;
  domain::json_writer w(buf);
  domain::write_json(w, k, secret);
  return {buf.GetString(), buf.GetSize()};
}

domain::error key_not_found(std::int64_t id) {
  return domain::make_error(domain::errc::not_found,
                            "API key " + std::to_string(id) + " does not exist");
}

void publish(self_ptr self) {
  std::vector<domain::api_key> keys;
  keys.reserve(self->state.committed.size());
  for (const auto& [id, k] : self->state.committed)
    keys.push_back(k);
  // Carries each key's usage (rate-limit bucket, last reports) over from the last table.
  auto table = std::make_shared<const domain::key_table>(keys, self->state.table.get());
  self->state.table = table;
  self->state.publish(std::move(table));
}

// `committed` as the store has it (cluster mode: this node's copy of the stream), and `tip`
// the same. False (logged) when the store cannot be read.
bool reload(self_ptr self) {
  auto& st = self->state;
  auto all = store::key_store(*st.svc->db).load_all();
  if (!all) {
    infra::log(infra::log_level::error, "cannot read the API keys: " + all.err().message);
    return false;
  }
  st.committed.clear();
  for (auto& k : *all)
    st.committed[k.id] = std::move(k);
  st.tip = st.committed;
  publish(self);
  return true;
}

// At the start of an attempt: the position of the keys in the journal, then the keys as
// the store has them, read again when the position moved since they were last read at one
// (in that order, a write claims no later position than what it was decided on). False,
// with `reply` answered, when the position or the keys cannot be read.
bool decide_on_copy(self_ptr self, const reply_to& reply) {
  auto& st = self->state;
  auto head = st.svc->journal->scope_position("keys");
  if (!head) {
    reply->deliver(std::move(head).err());
    return false;
  }
  st.keys_head = *head;
  if (st.read_at != *head) {
    if (!reload(self)) {
      reply->deliver(domain::make_error(domain::errc::internal, "cannot read the API keys"));
      return false;
    }
    st.read_at = *head;
  }
  return true;
}

// An entry of the keys audit stream: `type` about key `k`, by key `by` (0: the server).
using audit_fields = std::function<void(domain::json_writer&)>;
struct audit_entry {
  std::string type;
  std::int64_t by = 0;
  audit_fields more;
};

// `redo`: made again when another node's key write came first (else dropped: a record of a
// key's use).
void submit(self_ptr self, domain::api_key k, reply_to reply, answer response,
            std::optional<audit_entry> audit, bool redo = true) {
  auto& st = self->state;
  store::write_batch batch;
  store::key_store(*st.svc->db).put(batch, k);
  if (audit) {
    store::admin_audit::put(batch, "keys", audit->type, self->state.svc->clock->now_ms(),
                            [&](domain::json_writer& w) {
                              w.Key("key_id");
                              w.Int64(k.id);
                              w.Key("by_key_id");
                              if (audit->by != 0) {
                                w.Int64(audit->by);
                              } else {
                                w.Null();
                              }
                              if (audit->more) audit->more(w);
                            });
  }
  st.tip[k.id] = k;
  st.fenced.submit(*st.svc->journal, caf::actor_cast<keys_actor>(self), "keys", batch, st.keys_head,
                   std::move(k), std::move(reply), std::move(response), redo);
}

// The new table is published before the answer goes out: a revoked key already fails when
// its revocation is answered.
void on_ack(self_ptr self, const commit_ack& ack) {
  auto& st = self->state;
  auto w = st.fenced.take(ack);
  if (!w) return;
  reload(self);  // applied here before the acknowledgement: the key is in the store
  if (ack.ok) {
    w->reply->deliver(std::move(w->response));
    st.fenced.done();
    return;
  }
  if (static_cast<domain::errc>(ack.code) == domain::errc::beaten) {
    if (!w->redo) {
      st.fenced.done();  // a use record beaten by another write: dropped
      return;
    }
    if (st.fenced.can_retry()) {
      // Made again once this node has applied the write that came first.
      self->delayed_send(self, std::chrono::milliseconds(20), retry_write_atom_v);
      return;
    }
    w->reply->deliver(domain::make_error(
        domain::errc::unavailable,
        "other nodes kept changing API keys while this change was made; retry it"));
    st.fenced.done();
    return;
  }
  w->reply->deliver(domain::make_error(static_cast<domain::errc>(ack.code), ack.error));
  st.fenced.done();
}

const domain::api_key* visible(self_ptr self, std::int64_t id, const domain::api_key& caller) {
  auto it = self->state.tip.find(id);
  if (it == self->state.tip.end() || !it->second.active()) return nullptr;
  if (!caller.grants.covers(it->second.grants)) return nullptr;
  return &it->second;
}

void create_key(self_ptr self, key_create_req& req) {
  auto& s = self->state;
  if (!req.caller.grants.covers(req.request.grants)) {
    req.reply->deliver(
        domain::make_error(domain::errc::forbidden,
                           "a key can only grant accounts and brands that the creating key holds"));
    return;
  }
  domain::api_key k;
  k.id = (s.tip.empty() ? 0 : s.tip.rbegin()->first) + 1;
  k.name = req.request.name;
  k.role = req.request.role;
  k.grants = req.request.grants;
  k.created_at = self->state.svc->clock->now_ms();
  k.expires_at = req.request.expires_at;
  k.created_by = req.caller.id;
  k.allowed_origins = req.request.allowed_origins;
  std::string secret = domain::generate_secret(k.role);
  k.secret_digest = domain::sha256(secret);
  answer response(key_json(k, secret), std::to_string(k.id));
  audit_entry audit{"key.created", req.caller.id, [k](domain::json_writer& w) {
                      w.Key("key");
                      domain::write_json(w, k);
                    }};
  submit(self, std::move(k), req.reply, std::move(response), std::move(audit));
}

void bootstrap_key(self_ptr self, key_bootstrap_req& req) {
  auto& s = self->state;
  auto digest = domain::sha256(req.secret);
  for (const auto& [id, k] : s.tip) {
    if (k.secret_digest == digest) {
      req.reply->deliver(answer(key_json(k)));
      return;
    }
  }
  if (req.only_if_none && !s.tip.empty()) {
    req.reply->deliver(answer("null"));
    return;
  }
  domain::api_key k;
  k.id = (s.tip.empty() ? 0 : s.tip.rbegin()->first) + 1;
  k.name = req.name;
  k.role = domain::role::admin;
  k.grants = {true, {}, true, {}};
  k.created_at = self->state.svc->clock->now_ms();
  k.secret_digest = digest;
  answer response(key_json(k), std::to_string(k.id));
  // As in every release before: the first key of a store is no entry of its audit stream.
  submit(self, std::move(k), req.reply, std::move(response), std::nullopt);
}

// If-Match on a key's PATCH or DELETE: 412 unless it names the key's current ETag.
bool refuse_if_stale(const domain::api_key& k, const std::string& if_match, const reply_to& reply) {
  if (if_match.empty()) return false;
  std::string tag = domain::entity_tag(key_json(k));
  if (domain::tag_listed(if_match, tag)) return false;
  reply->deliver(
      domain::make_error(domain::errc::precondition_failed,
                         "API key " + std::to_string(k.id) +
                             " has changed since the version If-Match names; nothing was changed",
                         {{"If-Match", "the current ETag is " + tag}}));
  return true;
}

void patch_key(self_ptr self, key_patch_req& req) {
  const auto* k = visible(self, req.id, req.caller);
  if (k == nullptr) {
    req.reply->deliver(key_not_found(req.id));
    return;
  }
  if (refuse_if_stale(*k, req.if_match, req.reply)) return;
  if (auto refused = domain::check_patch(*k, req.patch); !refused) {
    req.reply->deliver(std::move(refused).err());
    return;
  }
  if (req.patch.expiry_given && req.id == req.caller.id) {
    req.reply->deliver(domain::make_error(
        domain::errc::forbidden, "a key cannot change its own expiry; use another admin key",
        {{"expires_at", "is set by another admin key"}}));
    return;
  }
  if (req.patch.expiry_given && req.patch.expires_at && k->is_full_admin()) {
    // An expiry would end the last key able to manage the others, as a revocation would.
    std::vector<domain::api_key> keys;
    for (const auto& [id, key] : self->state.tip)
      if (!key.expires_at) keys.push_back(key);
    if (auto refused = domain::check_revocation(keys, req.id); !refused) {
      req.reply->deliver(domain::make_error(
          domain::errc::conflict,
          "API key " + std::to_string(req.id) +
              " is the last admin key without an expiry holding every account and brand; "
              "create another such key before giving this one an expiry"));
      return;
    }
  }
  domain::api_key changed = *k;
  std::vector<std::string> fields;
  if (req.patch.name && *req.patch.name != changed.name) {
    changed.name = *req.patch.name;
    fields.emplace_back("name");
  }
  if (req.patch.expiry_given && req.patch.expires_at != changed.expires_at) {
    changed.expires_at = req.patch.expires_at;
    fields.emplace_back("expires_at");
  }
  if (req.patch.allowed_origins && *req.patch.allowed_origins != changed.allowed_origins) {
    changed.allowed_origins = *req.patch.allowed_origins;
    fields.emplace_back("allowed_origins");
  }
  std::string response = key_json(changed);
  if (fields.empty()) {
    req.reply->deliver(std::move(response));
    return;
  }
  audit_entry audit{"key.updated", req.caller.id, [fields, changed](domain::json_writer& w) {
                      w.Key("changed");
                      w.StartArray();
                      for (const auto& f : fields)
                        domain::write_string(w, f);
                      w.EndArray();
                      w.Key("key");
                      domain::write_json(w, changed);
                    }};
  submit(self, std::move(changed), std::move(req.reply), std::move(response), std::move(audit));
}

void rotate_key(self_ptr self, key_rotate_req& req) {
  const auto* k = visible(self, req.id, req.caller);
  if (k == nullptr) {
    req.reply->deliver(key_not_found(req.id));
    return;
  }
  domain::api_key rotated = *k;
  auto now = self->state.svc->clock->now_ms();
  std::string secret = domain::generate_secret(rotated.role);
  rotated.previous_digest = rotated.secret_digest;
  rotated.previous_expires_at = now + req.overlap_ms;
  rotated.secret_digest = domain::sha256(secret);
  std::string response = key_json(rotated, secret);
  audit_entry audit{"key.rotated", req.caller.id,
                    [until = now + req.overlap_ms](domain::json_writer& w) {
                      w.Key("previous_secret_expires_at");
                      domain::write_string(w, domain::format_rfc3339(until));
                    }};
  submit(self, std::move(rotated), std::move(req.reply), std::move(response), std::move(audit));
}

// last_used_at (at most once a minute: request handling asks no more often), or the use
// of an expired key (an audit entry, as often). In a cluster, a use record beaten by
// another node's key write is dropped, never made again over it.
void key_was_seen(self_ptr self, key_seen& seen) {
  auto& st = self->state;
  auto it = st.tip.find(seen.id);
  if (it == st.tip.end() || !it->second.active()) return;
  domain::api_key k = it->second;
  std::optional<audit_entry> audit;
  if (seen.expired) {
    if (!k.expired(seen.at)) return;  // extended meanwhile
    audit = audit_entry{"key.expired_use", 0, [at = *k.expires_at](domain::json_writer& w) {
                          w.Key("expired_at");
                          domain::write_string(w, domain::format_rfc3339(at));
                        }};
  } else {
    if (k.last_used_at && seen.at - *k.last_used_at < 60000) return;
    k.last_used_at = seen.at;
  }
  // No one waits for this answer; a failure (a full disk) only loses the record.
  submit(self, std::move(k), make_reply([](api_result) {}), std::string(), std::move(audit), false);
}

// {"keys":[...],"total":n,"active_count":m,"has_more":b,"next_starting_after":id|null}:
// the keys visible to the caller; total and active_count count them all.
void list_keys(self_ptr self, key_list_req& req) {
  rapidjson::StringBuffer buf;
  domain::json_writer w(buf);
  w.StartObject();
  w.Key("keys");
  w.StartArray();
  std::size_t total = 0, active = 0;
  domain::pager<std::int64_t> page(req.limit);
  bool full = false;
  for (const auto& [id, k] : self->state.committed) {
    if (!req.caller.grants.covers(k.grants)) continue;
    ++total;
    if (k.active()) ++active;
    if (full || id <= req.starting_after || k.active() != req.active) continue;
    if (!req.q.empty() && domain::to_lower_ascii(k.name).find(req.q) == std::string::npos) {
      continue;
    }
    if (!page.room()) {
      full = true;
      continue;
    }
    domain::write_json(w, k);
    page.wrote(id);
  }
  w.EndArray();
  w.Key("total");
  w.Uint64(total);
  w.Key("active_count");
  w.Uint64(active);
  page.finish(w);
  w.EndObject();
  req.reply->deliver(std::string(buf.GetString(), buf.GetSize()));
}

void get_key(self_ptr self, key_get_req& req) {
  auto it = self->state.committed.find(req.id);
  if (it == self->state.committed.end() || !it->second.active() ||
      !req.caller.grants.covers(it->second.grants)) {
    req.reply->deliver(key_not_found(req.id));
    return;
  }
  req.reply->deliver(key_json(it->second));
}

void delete_key(self_ptr self, key_delete_req& req) {
  const auto* k = visible(self, req.id, req.caller);
  if (k == nullptr) {
    req.reply->deliver(key_not_found(req.id));
    return;
  }
  if (refuse_if_stale(*k, req.if_match, req.reply)) return;
  // Counted on the tip: two revocations in flight cannot remove the last two admins.
  std::vector<domain::api_key> keys;
  for (const auto& [id, key] : self->state.tip)
    keys.push_back(key);
  if (auto refused = domain::check_revocation(keys, req.id); !refused) {
    req.reply->deliver(std::move(refused).err());
    return;
  }
  domain::api_key revoked = *k;
  revoked.revoked_at = self->state.svc->clock->now_ms();
  submit(self, std::move(revoked), std::move(req.reply), std::string(),
         audit_entry{"key.revoked", req.caller.id, {}});
}

// The reply of a request, or a sink for a use record (which has none).
const reply_to& reply_of(const key_seen&) {
  static const reply_to none = make_reply([](api_result) {});
  return none;
}
template <class Req>
const reply_to& reply_of(const Req& r) {
  return r.reply;
}

// Runs a change in its turn, decided on the keys as they stand then.
template <class Req>
void in_turn(self_ptr self, Req& req, void (*handle)(self_ptr, Req&)) {
  self->state.fenced.run([self, req, handle]() mutable {
    if (!decide_on_copy(self, reply_of(req))) return;
    Req copy = req;  // an attempt made again starts from the request as it came
    handle(self, copy);
  });
}

keys_actor::behavior_type keys_behavior(self_ptr self, std::vector<domain::api_key> keys,
                                        services* svc, key_table_publisher pub,
                                        std::shared_ptr<const domain::key_table> initial) {
  auto& st = self->state;
  st.svc = svc;
  st.publish = std::move(pub);
  st.table = std::move(initial);
  for (auto& k : keys)
    st.committed[k.id] = std::move(k);
  st.tip = st.committed;
  return {
      [self](key_create_req& r) { contain("keys", r, [&] { in_turn(self, r, create_key); }); },
      [self](key_list_req& r) { contain("keys", r, [&] { list_keys(self, r); }); },
      [self](key_get_req& r) { contain("keys", r, [&] { get_key(self, r); }); },
      [self](key_delete_req& r) { contain("keys", r, [&] { in_turn(self, r, delete_key); }); },
      [self](key_patch_req& r) { contain("keys", r, [&] { in_turn(self, r, patch_key); }); },
      [self](key_rotate_req& r) { contain("keys", r, [&] { in_turn(self, r, rotate_key); }); },
      [self](key_seen& r) { contain("keys", r, [&] { in_turn(self, r, key_was_seen); }); },
      [self](key_bootstrap_req& r) {
        contain("keys", r, [&] { in_turn(self, r, bootstrap_key); });
      },
      [self](retry_write_atom tick) {
        contain("keys", tick, [&] { (void)self->state.fenced.again(); });
      },
      [self](commit_ack& ack) { contain("keys", ack, [&] { on_ack(self, ack); }); },
      // Cluster mode: the node's copy of the stream has new keys or revocations.
      [self](cluster_sync_atom tick) {
        contain("keys", tick, [&] { reload(self); });
        // Answered even when the reading failed (logged): a wait for it would not end.
        if (self->state.svc->readers) self->state.svc->readers->read(table_readers::keys);
      },
  };
}

}  // namespace

keys_actor spawn_keys_actor(caf::actor_system& sys, std::vector<domain::api_key> keys,
                            services* svc, key_table_publisher publish) {
  // Publish the initial table synchronously so requests can authenticate at once.
  std::vector<domain::api_key> active;
  for (const auto& k : keys)
    active.push_back(k);
  auto initial = std::make_shared<const domain::key_table>(active);
  publish(initial);
  return sys.spawn(keys_behavior, std::move(keys), svc, std::move(publish), std::move(initial));
}

}  // namespace referrald::actors
