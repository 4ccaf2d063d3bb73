#include "actors/connections_actor.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/guard.hpp"
#include "actors/table_readers.hpp"
#include "actors/write_pipeline.hpp"
#include "domain/base/digest.hpp"
#include "infra/log.hpp"
#include "store/admin_audit.hpp"
#include "store/ai_store.hpp"

namespace referrald::actors {

connection_table::connection_table(const std::vector<domain::connection>& all) {
  for (const auto& c : all)
    by_brand_[c.brand_id].emplace(c.id, c);
}

const domain::connection* connection_table::find(std::int64_t brand_id, std::string_view id) const {
  auto b = by_brand_.find(brand_id);
  if (b == by_brand_.end()) return nullptr;
  auto c = b->second.find(id);
  return c == b->second.end() ? nullptr : &c->second;
}

std::vector<const domain::connection*> connection_table::of_brand(std::int64_t brand_id) const {
  std::vector<const domain::connection*> out;
  auto b = by_brand_.find(brand_id);
  if (b == by_brand_.end()) return out;
  for (const auto& [id, c] : b->second)
    out.push_back(&c);
  return out;
}

namespace {

using key_type = std::pair<std::int64_t, std::string>;

struct connections_state {
  static inline const char* name = "referrald.connections";
  services* svc = nullptr;
  connection_table_publisher publish;
  std::map<key_type, domain::connection> committed;
  std::map<key_type, domain::connection> tip;
  domain::ulid_generator ids;  // ids sort in creation order, across restarts too
  // Each change claims the position of its brand's scope in the journal (cluster mode: the
  // subject "referrald.records.connections." brand): decided one at a time on the store as
  // it stood at `brand_head`, and made again when another node's change of the brand came
  // first (actors/write_pipeline.hpp, fenced_records).
  fenced_records<domain::connection> fenced;
  std::uint64_t brand_head = 0;
  std::map<std::int64_t, std::uint64_t> read_at;  // by brand: its position at the last read
};

using self_ptr = connections_actor::stateful_pointer<connections_state>;

std::string connection_json(const domain::connection& c) {
  rapidjson::StringBuffer buf;
  domain::json_writer w(buf);
  domain::write_json(w, c);
  return {buf.GetString(), buf.GetSize()};
}

void publish(self_ptr self) {
  std::vector<domain::connection> all;
  for (const auto& [k, c] : self->state.committed)
    all.push_back(c);
  self->state.publish(std::make_shared<const connection_table>(all));
}

// `committed` as the store has it (cluster mode: this node's copy of the stream), `tip` the
// same. False (logged) when the store cannot be read.
bool reload(self_ptr self) {
  auto& st = self->state;
  auto all = store::ai_store(*st.svc->db).load_connections();
  if (!all) {
    infra::log(infra::log_level::error, "cannot read the connections: " + all.err().message);
    return false;
  }
  st.committed.clear();
  for (auto& c : *all) {
    st.ids.observe(c.id);
    st.committed[{c.brand_id, c.id}] = std::move(c);
  }
  st.tip = st.committed;
  publish(self);
  return true;
}

std::string brand_scope(std::int64_t brand_id) { return "connections." + std::to_string(brand_id); }

// At the start of an attempt: the position of the brand's scope in the journal, then the
// connections as the store has them, read again when the position moved since they were
// last read at one (in that order: a change claims no later position than the state it
// was decided on). False, with `reply` answered, when either cannot be read.
bool decide_on_copy(self_ptr self, std::int64_t brand_id, const reply_to& reply) {
  auto& st = self->state;
  auto head = st.svc->journal->scope_position(brand_scope(brand_id));
  if (!head) {
    reply->deliver(std::move(head).err());
    return false;
  }
  st.brand_head = *head;
  auto known = st.read_at.find(brand_id);
  if (known == st.read_at.end() || known->second != *head) {
    if (!reload(self)) {
      reply->deliver(domain::make_error(domain::errc::internal, "cannot read the connections"));
      return false;
    }
    st.read_at[brand_id] = *head;
  }
  return true;
}

// `type` ("connection.created", "connection.deleted") by key `key_id` goes to the brand's
// audit stream in the same write.
void submit(self_ptr self, domain::connection c, reply_to reply, answer response,
            std::string_view type, std::int64_t key_id) {
  auto& st = self->state;
  store::write_batch batch;
  store::ai_store(*st.svc->db).put_connection(batch, c);
  store::admin_audit::put(batch, "brand." + std::to_string(c.brand_id), type,
                          self->state.svc->clock->now_ms(), [&](domain::json_writer& w) {
                            w.Key("connection_id");
                            domain::write_string(w, c.id);
                            w.Key("name");
                            domain::write_string(w, c.name);
                            w.Key("by_key_id");
                            w.Int64(key_id);
                          });
  st.tip[{c.brand_id, c.id}] = c;
  std::string scope = brand_scope(c.brand_id);
  st.fenced.submit(*st.svc->journal, caf::actor_cast<connections_actor>(self), std::move(scope),
                   batch, st.brand_head, std::move(c), std::move(reply), std::move(response));
}

void create_connection(self_ptr self, connection_create_req& req) {
  domain::connection c;
  c.brand_id = req.brand_id;
  c.created_at = self->state.svc->clock->now_ms();
  c.id = self->state.ids.next(c.created_at);
  c.name = std::move(req.request.name);
  c.source_tool = req.request.source_tool;
  answer response(connection_json(c), c.id);
  submit(self, std::move(c), std::move(req.reply), std::move(response), "connection.created",
         req.key_id);
}

void delete_connection(self_ptr self, connection_delete_req& req) {
  auto it = self->state.tip.find({req.brand_id, req.id});
  if (it == self->state.tip.end() || !it->second.active()) {
    req.reply->deliver(domain::make_error(
        domain::errc::not_found,
        "connection " + req.id + " does not exist for brand " + std::to_string(req.brand_id)));
    return;
  }
  if (!req.if_match.empty()) {
    std::string tag = domain::entity_tag(connection_json(it->second));
    if (!domain::tag_listed(req.if_match, tag)) {
      req.reply->deliver(
          domain::make_error(domain::errc::precondition_failed,
                             "connection " + req.id +
                                 " has changed since the version If-Match names; it was not "
                                 "deleted",
                             {{"If-Match", "the current ETag is " + tag}}));
      return;
    }
  }
  domain::connection c = it->second;
  c.deleted_at = self->state.svc->clock->now_ms();
  submit(self, std::move(c), std::move(req.reply), std::string(), "connection.deleted", req.key_id);
}

void on_ack(self_ptr self, const commit_ack& ack) {
  auto& st = self->state;
  auto w = st.fenced.take(ack);
  if (!w) return;
  reload(self);  // applied here before the acknowledgement: the change is in the store
  if (!ack.ok && static_cast<domain::errc>(ack.code) == domain::errc::beaten) {
    if (st.fenced.can_retry()) {
      // Made again once this node has applied the change that came first.
      self->delayed_send(self, std::chrono::milliseconds(20), retry_write_atom_v);
      return;
    }
    w->reply->deliver(domain::make_error(
        domain::errc::unavailable,
        "other nodes kept changing this brand's connections while this change was made; "
        "retry it"));
  } else if (ack.ok) {
    w->reply->deliver(std::move(w->response));
  } else {
    w->reply->deliver(domain::make_error(static_cast<domain::errc>(ack.code), ack.error));
  }
  st.fenced.done();
}

// Runs a change in its turn, decided on the connections as they stand then.
template <class Req>
void in_turn(self_ptr self, Req& req, void (*handle)(self_ptr, Req&)) {
  self->state.fenced.run([self, req, handle]() mutable {
    if (!decide_on_copy(self, req.brand_id, req.reply)) return;
    Req copy = req;  // an attempt made again starts from the request as it came
    handle(self, copy);
  });
}

connections_actor::behavior_type connections_behavior(self_ptr self,
                                                      std::vector<domain::connection> all,
                                                      services* svc,
                                                      connection_table_publisher pub) {
  auto& st = self->state;
  st.svc = svc;
  st.publish = std::move(pub);
  for (auto& c : all) {
    st.ids.observe(c.id);
    st.committed[{c.brand_id, c.id}] = std::move(c);
  }
  st.tip = st.committed;
  return {
      [self](connection_create_req& req) {
        contain("connections", req, [&] { in_turn(self, req, create_connection); });
      },
      [self](connection_delete_req& req) {
        contain("connections", req, [&] { in_turn(self, req, delete_connection); });
      },
      [self](retry_write_atom tick) {
        contain("connections", tick, [&] { (void)self->state.fenced.again(); });
      },
      [self](commit_ack& ack) { contain("connections", ack, [&] { on_ack(self, ack); }); },
      // Cluster mode: the node's copy of the stream has new connections or deletions.
      [self](cluster_sync_atom tick) {
        contain("connections", tick, [&] { reload(self); });
        // Answered even when the reading failed (logged): a wait for it would not end.
        if (self->state.svc->readers) self->state.svc->readers->read(table_readers::connections);
      },
  };
}

}  // namespace

connections_actor spawn_connections_actor(caf::actor_system& sys,
                                          std::vector<domain::connection> all, services* svc,
                                          connection_table_publisher publish) {
  publish(std::make_shared<const connection_table>(all));
  return sys.spawn(connections_behavior, std::move(all), svc, std::move(publish));
}

}  // namespace referrald::actors
