#include "actors/account_actor.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <functional>
#include <vector>

#include "actors/write_pipeline.hpp"
#include "domain/metrics.hpp"

namespace referrald::actors {

namespace {

struct account_actor_state {
  static inline const char* name = "referrald.account";

  std::string account_id;
  services* svc = nullptr;
  std::shared_ptr<published_state> published;
  bool loaded = false;
  bool evicted = false;  // left the registry: forward everything, then quit
  domain::unix_ms last_request = 0;
  // Requests that arrived while loading, with their reply channels so that a failed load
  // can say why.
  std::vector<std::pair<reply_to, std::function<void()>>> held;

  domain::account_state committed;  // durable state: what reads see
  domain::account_state tip;        // committed + writes in flight: what writes check
  write_pipeline<domain::event> writes;
};

using self_ptr = account_actor::stateful_pointer<account_actor_state>;

template <class Fn>
std::string to_json(Fn&& fn) {
  rapidjson::StringBuffer buf;
  domain::json_writer w(buf);
  fn(w);
  return {buf.GetString(), buf.GetSize()};
}

std::string referrer_json(const std::string& account, const domain::passthrough_referrer& r) {
  return to_json([&](domain::json_writer& w) { domain::write_json(w, account, r); });
}

domain::error not_found(std::int64_t id) {
  return domain::make_error(domain::errc::not_found,
                            "passthrough referrer " + std::to_string(id) + " does not exist");
}

domain::error domain_taken(const std::string& domain, std::int64_t holder) {
  return domain::make_error(
      domain::errc::conflict,
      "a passthrough referrer for domain '" + domain + "' already exists (id " +
          std::to_string(holder) + ")",
      {{"domain", "already used by passthrough referrer " + std::to_string(holder)}});
}

domain::unix_ms next_timestamp(const account_actor_state& st) {
  return std::max(domain::now_ms(), st.tip.last_timestamp());
}

void publish(self_ptr self) {
  self->state.published->state.store(
      std::make_shared<const domain::account_state>(self->state.committed));
}

// Numbers, chains and submits one event; the reply is delivered when it is durable.
void submit(self_ptr self, domain::event e, reply_to reply, std::string response) {
  auto& st = self->state;
  e.seq = st.tip.seq() + 1;
  e.prev_hash = st.tip.head_hash();
  store::write_batch batch;
  st.svc->log->append(batch, st.account_id, e);
  if (auto applied = st.tip.apply(e); !applied) {
    reply->deliver(std::move(applied).err());
    return;
  }
  st.writes.submit(*st.svc->commits, caf::actor_cast<account_actor>(self), std::move(batch),
                   std::move(e), std::move(reply), std::move(response));
}

void on_ack(self_ptr self, const commit_ack& ack) {
  auto& st = self->state;
  st.writes.on_ack(
      ack,
      [&](const domain::event& e) {
        auto applied = st.committed.apply(e);
        if (applied) domain::metrics().events_appended.fetch_add(1, std::memory_order_relaxed);
        return applied;
      },
      [&] { publish(self); }, [&] { st.tip = st.committed; });
}

void list(self_ptr self, passthrough_list_req& req) {
  req.reply->deliver(domain::passthrough_list_json(self->state.committed, req.include_inactive));
}

void get(self_ptr self, passthrough_get_req& req) {
  req.reply->deliver(domain::passthrough_get_json(self->state.committed, req.id));
}

void create(self_ptr self, passthrough_create_req& req) {
  auto& st = self->state;
  if (auto holder = st.tip.referrer_with_domain(req.input.domain)) {
    req.reply->deliver(domain_taken(req.input.domain, *holder));
    return;
  }
  domain::passthrough_referrer r = std::move(req.input);
  r.id = st.tip.next_referrer_id();
  r.created_at = r.updated_at = next_timestamp(st);
  domain::event e;
  e.timestamp = r.created_at;
  e.type = domain::event_type::passthrough_referrer_created;
  e.key_id = req.key_id;
  e.entity_id = r.id;
  e.object = referrer_json(st.account_id, r);
  std::string response = e.object;
  submit(self, std::move(e), std::move(req.reply), std::move(response));
}

void patch(self_ptr self, passthrough_patch_req& req) {
  auto& st = self->state;
  const auto* current = st.tip.find_referrer(req.id);
  if (current == nullptr) {
    req.reply->deliver(not_found(req.id));
    return;
  }
  domain::passthrough_referrer r = *current;
  std::vector<std::string> changed = domain::apply_patch(r, req.patch);
  if (changed.empty()) {
    st.writes.answer_after_inflight(std::move(req.reply), referrer_json(st.account_id, r));
    return;
  }
  if (auto holder = st.tip.referrer_with_domain(r.domain); holder && *holder != r.id) {
    req.reply->deliver(domain_taken(r.domain, *holder));
    return;
  }
  r.updated_at = next_timestamp(st);
  domain::event e;
  e.timestamp = r.updated_at;
  e.type = domain::event_type::passthrough_referrer_updated;
  e.key_id = req.key_id;
  e.entity_id = r.id;
  e.object = referrer_json(st.account_id, r);
  e.changed = std::move(changed);
  std::string response = e.object;
  submit(self, std::move(e), std::move(req.reply), std::move(response));
}

void remove(self_ptr self, passthrough_delete_req& req) {
  auto& st = self->state;
  const auto* current = st.tip.find_referrer(req.id);
  if (current == nullptr) {
    req.reply->deliver(not_found(req.id));
    return;
  }
  domain::event e;
  e.timestamp = next_timestamp(st);
  e.type = domain::event_type::passthrough_referrer_deleted;
  e.key_id = req.key_id;
  e.entity_id = req.id;
  e.object = referrer_json(st.account_id, *current);
  submit(self, std::move(e), std::move(req.reply), std::string());
}

// Runs `fn(self, req)` now, or once the state is loaded.
template <class Req>
void handle(self_ptr self, Req& req, void (*fn)(self_ptr, Req&)) {
  auto& st = self->state;
  if (st.evicted) {
    st.svc->forward(st.account_id, account_request{std::move(req)});
    return;
  }
  st.last_request = domain::now_ms();
  if (st.loaded) {
    fn(self, req);
    return;
  }
  reply_to reply = req.reply;
  self->state.held.emplace_back(std::move(reply),
                                [self, fn, r = std::move(req)]() mutable { fn(self, r); });
}

std::chrono::milliseconds idle_check_period(const services& svc) {
  return std::max(svc.idle_timeout / 4, std::chrono::milliseconds(10));
}

// Leaves the registry when nothing has used the account for the idle timeout.
void on_idle_tick(self_ptr self) {
  auto& st = self->state;
  if (st.evicted) return;
  auto last_use = std::max(st.last_request, st.published->last_read_ms.load());
  bool idle =
      st.loaded && st.writes.empty() && domain::now_ms() - last_use >= st.svc->idle_timeout.count();
  if (idle && st.svc->evict(st.account_id, self->address())) {
    // Nothing is sent here any more; what is in the mailbox is forwarded, then quit.
    st.evicted = true;
    domain::metrics().account_actor_evictions.fetch_add(1, std::memory_order_relaxed);
    caf::anon_send(caf::actor_cast<account_actor>(self), evict_atom_v);
    return;
  }
  self->delayed_send(self, idle_check_period(*st.svc), idle_tick_atom_v);
}

void fail_held(self_ptr self, const std::string& why) {
  auto held = std::move(self->state.held);
  self->state.held.clear();
  for (auto& [reply, fn] : held) {
    reply->deliver(
        domain::make_error(domain::errc::unavailable,
                           "account " + self->state.account_id + " could not be loaded: " + why));
  }
}

account_actor::behavior_type account_behavior(self_ptr self, std::string account_id, services* svc,
                                              std::shared_ptr<published_state> published) {
  auto& st = self->state;
  st.account_id = account_id;
  st.svc = svc;
  st.published = std::move(published);
  st.committed = domain::account_state(account_id);
  st.tip = st.committed;
  st.last_request = domain::now_ms();
  self->delayed_send(self, idle_check_period(*svc), idle_tick_atom_v);
  self->request(svc->loaders, svc->load_timeout, load_account_req{account_id})
      .then(
          [self](loaded_account& result) {
            if (!result.state) {
              fail_held(self, result.error);
              self->quit(caf::sec::runtime_error);
              return;
            }
            self->state.committed = *result.state;
            self->state.tip = *result.state;
            self->state.loaded = true;
            publish(self);
            auto held = std::move(self->state.held);
            self->state.held.clear();
            for (auto& held_request : held)
              held_request.second();
          },
          [self](caf::error&) {
            fail_held(self, "loading the account timed out");
            self->quit(caf::sec::request_timeout);
          });
  return {
      [self](passthrough_list_req& req) { handle(self, req, &list); },
      [self](passthrough_get_req& req) { handle(self, req, &get); },
      [self](passthrough_create_req& req) { handle(self, req, &create); },
      [self](passthrough_patch_req& req) { handle(self, req, &patch); },
      [self](passthrough_delete_req& req) { handle(self, req, &remove); },
      [self](commit_ack& ack) { on_ack(self, ack); },
      [self](idle_tick_atom) { on_idle_tick(self); },
      [self](evict_atom) { self->quit(); },
  };
}

}  // namespace

account_actor spawn_account_actor(caf::actor_system& sys, std::string account_id, services* svc,
                                  std::shared_ptr<published_state> published) {
  return sys.spawn(account_behavior, std::move(account_id), svc, std::move(published));
}

}  // namespace referrald::actors
