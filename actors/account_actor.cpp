#include "actors/account_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <functional>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "actors/chain_verifier.hpp"
#include "actors/guard.hpp"
#include "actors/write_pipeline.hpp"
#include "domain/base/text.hpp"
#include "domain/match/mapping_index.hpp"
#include "infra/log.hpp"
#include "infra/metrics.hpp"
#include "snapshots/snapshot_store.hpp"

namespace referrald::actors {

namespace {

using domain::channel_rule;
using domain::passthrough_referrer;
using domain::referrer_mapping;

// A write on its way to the store: the event and its object already decoded, so that
// the speculative and the durable state share one decoded entity.
struct prepared_event {
  domain::event event;
  domain::decoded_entity decoded;
};

// A write in flight: its events (one, or one per changed rule of an import), stored in
// one atomic batch, and the state they lead to, folded once when the write was submitted
// (the durable state takes it over when the write is acknowledged).
struct prepared_write {
  std::vector<prepared_event> events;
  domain::account_state after;
  // Cluster mode: makes the request again (after catching up with the stream), when
  // another node wrote the account first.
  std::function<void()> redo;
};

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

  std::uint64_t snapshot_seq = 0;                  // the newest snapshot written (or found) so far
  bool building_indexes = false;                   // a full index build is under way on a loader
  domain::account_state::full_indexes last_built;  // the newest full index build adopted
  bool settle_pending = false;                     // a settle message is on its way
  bool insights_off_told = false;  // the runtime knows this account's insights are off
  domain::unix_ms last_publish = 0;
  domain::account_state committed;  // durable state: what reads see
  domain::account_state tip;        // committed + writes in flight: what writes check
  // Requests waiting for the published state to reach a sequence number (min_seq), by
  // the time they give up.
  struct seq_waiter {
    std::uint64_t min_seq = 0;
    std::chrono::steady_clock::time_point until;
    reply_to reply;
  };
  std::vector<seq_waiter> seq_waiters;
  write_pipeline<prepared_write> writes;

  // A shared journal (cluster mode): writes another writer may beat.
  std::function<void()> redo_next;                     // the request being handled, to make again
  std::vector<std::function<void()>> redo_after_sync;  // requests another node's write beat
  // Cluster mode: creates whose key only a write still in flight holds, answered once the
  // writes in flight are decided (that write may still fail: a 409 must name a stored one).
  std::vector<std::function<void()>> redo_after_writes;
  bool resync = false;  // a write failed: catch up with the stream before the next one
  domain::unix_ms resync_since = 0;
};

using self_ptr = account_actor::stateful_pointer<account_actor_state>;

template <class T>
domain::error not_found(std::int64_t id) {
  return domain::make_error(
      domain::errc::not_found,
      std::string(domain::kind_traits<T>::noun) + " " + std::to_string(id) + " does not exist");
}

template <class T>
domain::error key_taken(const std::string& key, std::int64_t holder) {
  using traits = domain::kind_traits<T>;
  std::string field(traits::key_field);
  return domain::make_error(
      domain::errc::conflict,
      "a " + std::string(traits::noun) + " with " + field + " '" + domain::excerpt(key) +
          "' already exists (id " + std::to_string(holder) + ")",
      {{field, "already used by " + std::string(traits::noun) + " " + std::to_string(holder)}});
}

// Regex rules (mappings and channel rules with a regex referrer_pattern) are the rules
// whose matching costs real CPU: an account may hold at most services::max_regex_rules of
// them, of both kinds together, active or not.
template <class T>
constexpr bool can_be_regex =
    std::is_same_v<T, referrer_mapping> || std::is_same_v<T, channel_rule>;

bool is_regex(const referrer_mapping& m) { return m.match_type == domain::match_type::regex; }
bool is_regex(const channel_rule& r) {
  return r.referrer_pattern && r.match_type == domain::match_type::regex;
}

// The account's regex rules of kind T, leaving out the one with id `except` (0: none).
template <class T>
std::size_t regex_rules_of(const domain::account_state& s, std::int64_t except) {
  std::size_t n = 0;
  for (auto [id, e] : s.entities<T>().items()) {
    if (id != except && is_regex(e->value)) ++n;
  }
  return n;
}

// The account's regex rules, both kinds, leaving out the rule of kind T with id `except`.
template <class T>
std::size_t regex_rules(const domain::account_state& s, std::int64_t except) {
  return regex_rules_of<referrer_mapping>(
             s, std::is_same_v<T, referrer_mapping> ? except : std::int64_t{0}) +
         regex_rules_of<channel_rule>(s,
                                      std::is_same_v<T, channel_rule> ? except : std::int64_t{0});
}

domain::error regex_quota_error(const std::string& message) {
  return domain::make_error(domain::errc::conflict, message,
                            {{"match_type", "no more regex rules may be added to this account"}});
}

// An error when `value` would be one regex rule too many (`replacing`: the id it replaces,
// 0 for a create).
template <class T>
std::optional<domain::error> over_regex_quota(const account_actor_state& st, const T& value,
                                              std::int64_t replacing) {
  if constexpr (can_be_regex<T>) {
    if (!is_regex(value)) return std::nullopt;
    std::size_t regexes = regex_rules<T>(st.tip, replacing);
    if (regexes < st.svc->max_regex_rules) return std::nullopt;
    return regex_quota_error(
        "account " + st.account_id + " already has " + std::to_string(regexes) +
        " regex rules (mappings and channel rules), the most an account may hold "
        "(--max-regex-rules); delete one, or use exact, contains, starts_with or ends_with, "
        "which cost far less to match");
  } else {
    (void)st;
    (void)value;
    (void)replacing;
    return std::nullopt;
  }
}

// A write to an account whose history failed verification is refused.
bool refuse_if_broken(self_ptr self, const reply_to& reply) {
  const auto& st = self->state;
  if (st.svc->broken == nullptr) return false;
  auto refused = st.svc->broken->refusal(st.account_id);
  if (!refused) return false;
  reply->deliver(std::move(*refused));
  return true;
}

domain::unix_ms next_timestamp(const account_actor_state& st) {
  return std::max(st.svc->clock->now_ms(), st.tip.last_timestamp());
}

void publish(self_ptr self);

// Tells the follower (published_state::known_through) which of the account's events the
// actor has or will be told of by its writes' outcomes.
void note_known(account_actor_state& st) {
  st.published->known_through.store(std::max(st.committed.seq(), st.tip.seq()));
}

// Has a loader build the lookup indexes of `view` in full, and adopts them: until then the
// rules changed since the last full build stay layered over it, so that no write waits for
// an O(rules) build on the actors' scheduler.
void build_indexes(self_ptr self, std::shared_ptr<const domain::account_state> view) {
  auto& st = self->state;
  st.building_indexes = true;
  self->request(st.svc->loaders, caf::infinite, build_indexes_req{std::move(view)})
      .then(
          [self](built_indexes& built) {
            auto& s = self->state;
            s.building_indexes = false;
            if (!built.indexes.mappings) return;
            s.last_built = built.indexes;
            s.committed.adopt_indexes(built.indexes);
            s.tip.adopt_indexes(built.indexes);
            publish(self);
          },
          [self](caf::error&) { self->state.building_indexes = false; });
}

// How long an account must go without writes before a layered index is rebuilt in full.
constexpr std::chrono::milliseconds k_settle_after{1000};

// Answers the requests waiting for a sequence number the published state has reached,
// and those that waited long enough.
void answer_seq_waiters(self_ptr self) {
  auto& st = self->state;
  if (st.seq_waiters.empty()) return;
  const auto now = st.svc->clock->steady_now();
  std::erase_if(st.seq_waiters, [&](account_actor_state::seq_waiter& w) {
    if (st.committed.seq() >= w.min_seq) {
      w.reply->deliver(std::string());
      return true;
    }
    if (now < w.until) return false;
    w.reply->deliver(domain::make_error(
        domain::errc::unavailable,
        "account " + st.account_id + " has not reached sequence " + std::to_string(w.min_seq) +
            " on this node within " + std::to_string(k_min_seq_wait.count()) + " ms (it is at " +
            std::to_string(st.committed.seq()) + "); retry, or ask another node",
        {{"Referrald-Min-Seq", "not reached yet"}}));
    return true;
  });
}

// Publishes the durable state to readers, and has a snapshot of it written when one is
// due (snapshots::snapshot_due).
void publish(self_ptr self) {
  auto& st = self->state;
  st.committed.refresh_indexes(domain::account_state::index_refresh::layered);
  auto view = std::make_shared<const domain::account_state>(st.committed);
  st.published->state.store(view);
  answer_seq_waiters(self);
  // Counting turned off: what was kept goes (once per turn; again after a load).
  bool off = view->settings() != nullptr && !view->settings()->insights;
  if (off && !st.insights_off_told && st.svc->insights_off) st.svc->insights_off(st.account_id);
  st.insights_off_told = off;
  if (!st.building_indexes && st.committed.full_index_build_due()) build_indexes(self, view);
  // Changes layered over the full build slow lookups down a little: once writes stop for
  // a moment, the index is rebuilt in full, off the actor.
  st.last_publish = st.svc->clock->now_ms();
  if (!st.settle_pending && st.committed.mappings_index() &&
      st.committed.mappings_index()->layered() > 0) {
    st.settle_pending = true;
    self->delayed_send(self, k_settle_after, settle_atom_v);
  }
  std::size_t rules = st.committed.referrers().size() + st.committed.mappings().size();
  if (snapshots::snapshot_due(st.committed.seq() - st.snapshot_seq, rules,
                              st.svc->snapshot_every)) {
    st.snapshot_seq = st.committed.seq();
    caf::anon_send(st.svc->loaders, write_snapshot_req{std::move(view)});
  }
}

// Numbers, chains and submits events as one atomic write; the reply is delivered when it
// is durable. Nothing changes when one of them does not fit.
void submit(self_ptr self, std::vector<prepared_event> events, reply_to reply, answer response) {
  auto& st = self->state;
  std::vector<std::string> values;  // the stored events, for the journal
  values.reserve(events.size());
  domain::account_state tip = st.tip;
  const std::uint64_t first_seq = tip.seq() + 1;
  for (auto& p : events) {
    p.event.seq = tip.seq() + 1;
    p.event.prev_hash = tip.head_hash();
    values.push_back(store::encode_event_value(st.account_id, p.event));
    if (auto applied = tip.apply(p.event, p.decoded); !applied) {
      reply->deliver(std::move(applied).err());
      return;
    }
  }
  st.tip = tip;
  note_known(st);
  prepared_write write{std::move(events), std::move(tip), std::move(st.redo_next)};
  st.redo_next = nullptr;
  st.writes.submit(*st.svc->journal, caf::actor_cast<account_actor>(self), st.account_id, first_seq,
                   std::move(values), std::move(write), std::move(reply), std::move(response));
  // While the store writes, the lookup index of the state readers get when it is durable
  // (publishing then finds it made, and answers sooner).
  if (prepared_write* w = st.writes.last_submitted()) {
    w->after.refresh_indexes(domain::account_state::index_refresh::layered);
  }
}

void submit(self_ptr self, prepared_event p, reply_to reply, answer response) {
  std::vector<prepared_event> one;
  one.push_back(std::move(p));
  submit(self, std::move(one), std::move(reply), std::move(response));
}

void sync_with_journal(self_ptr self);
void quit_after_exception(self_ptr self);

void on_ack(self_ptr self, const commit_ack& ack) {
  auto& st = self->state;
  st.writes.on_ack(
      ack,
      [&](prepared_write& w) {
        const auto& first = w.events.front().event;
        // Cluster mode: the node's copy of the stream may have brought this write in
        // before its acknowledgement came (sync_with_journal applied it).
        if (w.events.back().event.seq <= st.committed.seq()) return domain::status{};
        if (st.committed.seq() + 1 == first.seq && st.committed.head_hash() == first.prev_hash) {
          // Built on exactly this durable state: the fold is the one done at submission
          // (taken: the write is done with).
          st.committed = std::move(w.after);
          // A full index build adopted while the write was in flight is not in `after`.
          if (st.last_built.mappings) st.committed.adopt_indexes(st.last_built);
          infra::metrics().events_appended.fetch_add(w.events.size(), std::memory_order_relaxed);
          return domain::status{};
        }
        for (const auto& p : w.events) {
          auto applied = st.committed.apply(p.event, p.decoded);
          if (!applied) return applied;
          infra::metrics().events_appended.fetch_add(1, std::memory_order_relaxed);
        }
        return domain::status{};
      },
      [&] { publish(self); },
      [&] {
        // Catch up with the journal before writing again: at once (below) when this node
        // has what came first (always, in embedded mode), else when the follower brings it
        // in (or, failing that, a moment later).
        st.tip = st.committed;
        note_known(st);
        st.resync = true;
        st.resync_since = st.svc->clock->now_ms();
        self->delayed_send(self, std::chrono::milliseconds(100), cluster_sync_atom_v);
      },
      [&](auto& w) {
        // Another writer wrote the account first: the request is made again once this
        // node has applied that write (so a 409 is still a 409).
        std::function<void()>* redo = nullptr;
        if constexpr (std::is_same_v<std::decay_t<decltype(w)>, prepared_write>) {
          redo = &w.redo;
        } else {
          redo = &w;
        }
        if (static_cast<domain::errc>(ack.code) != domain::errc::beaten || !*redo) {
          return false;
        }
        st.redo_after_sync.push_back(std::move(*redo));
        infra::metrics().cluster_writes_beaten.fetch_add(1, std::memory_order_relaxed);
        return true;
      });
  if (st.resync) sync_with_journal(self);
  if (st.writes.empty() && !st.redo_after_writes.empty()) {
    auto waiting = std::move(st.redo_after_writes);
    st.redo_after_writes.clear();
    for (auto& r : waiting) {
      if (st.resync) {
        st.redo_after_sync.push_back(std::move(r));  // after the node has caught up
      } else {
        r();
      }
    }
  }
}

// Applies what the journal holds beyond the durable state (cluster mode: other nodes'
// writes, or this node's whose acknowledgement has not come yet), and, after a failed
// write, resumes the account's writes where it stands and makes the beaten requests again.
// How long a beaten write waits for the node's copy to bring in the write that came first
// before it is made again anyway (the follower reconnecting, say).
constexpr std::chrono::milliseconds k_resync_patience{2000};

void sync_with_journal(self_ptr self) {
  auto& st = self->state;
  if (!st.loaded || st.evicted) return;
  auto& journal = *st.svc->journal;
  // The position first, then the events: the position then never claims more than the
  // events applied (a next write claiming it is beaten at worst, never forks).
  auto position = journal.position(st.account_id);
  auto head = journal.head(st.account_id);
  if (!position || !head) {
    self->delayed_send(self, std::chrono::milliseconds(200), cluster_sync_atom_v);
    return;
  }
  if (*head > st.committed.seq()) {
    domain::status failed;
    auto replayed =
        journal.replay(st.account_id, st.committed.seq() + 1, [&](const domain::event& e) {
          failed = st.committed.apply(e);
          return failed.ok();
        });
    if (!replayed || !failed) {
      const auto& why = !replayed ? replayed.err().message : failed.err().message;
      if (st.svc->copy_misfit) {
        st.svc->copy_misfit(st.account_id, why);
      } else if (st.svc->broken != nullptr) {
        st.svc->broken->mark(st.account_id, why);
      }
      quit_after_exception(self);
      return;
    }
    if (st.writes.empty()) st.tip = st.committed;
    note_known(st);
    publish(self);
  }
  if (st.resync && st.writes.empty()) {
    // After a beaten write, not before the node's copy has the write that came first (the
    // follower's next message says when it has).
    auto beaten = journal.beaten_at(st.account_id);
    if (beaten && *position <= *beaten &&
        st.svc->clock->now_ms() - st.resync_since < k_resync_patience.count()) {
      self->delayed_send(self, std::chrono::milliseconds(100), cluster_sync_atom_v);
      return;
    }
    st.resync = false;
    st.tip = st.committed;
    journal.resume(st.account_id, *position);
    auto redo = std::move(st.redo_after_sync);
    st.redo_after_sync.clear();
    for (auto& r : redo)
      r();
  }
}

// Cluster mode: folds another writer's write as the node's copy holds it (`copied`), when
// it is the next one of the durable state and nothing of the actor's own is in flight or
// being caught up with; false when it is not (sync_with_journal() then reads the copy).
bool fold_copied(self_ptr self, const copied_events& copied) {
  auto& st = self->state;
  if (!st.loaded || st.evicted || st.resync || !st.writes.empty() || !copied.events ||
      copied.events->empty()) {
    return false;
  }
  const auto& first = copied.events->front();
  if (first.seq != st.committed.seq() + 1 || first.prev_hash != st.committed.head_hash() ||
      copied.events->back().seq != copied.last_event) {
    return false;
  }
  domain::account_state next = st.committed;
  for (const auto& e : *copied.events) {
    // An event that does not fit is the copy's problem: sync_with_journal() says so.
    if (!next.apply(e)) return false;
  }
  st.committed = std::move(next);
  st.tip = st.committed;
  note_known(st);
  publish(self);
  return true;
}

// The request being handled, to make again (a shared journal; empty otherwise).
std::function<void()> take_redo(account_actor_state& st) {
  auto redo = std::move(st.redo_next);
  st.redo_next = nullptr;
  return redo;
}

void await_loaded(self_ptr self, await_loaded_req& req) {
  auto& st = self->state;
  if (st.committed.seq() >= req.min_seq) {
    req.reply->deliver(std::string());
    return;
  }
  st.seq_waiters.push_back(
      {req.min_seq, st.svc->clock->steady_now() + k_min_seq_wait, std::move(req.reply)});
  self->delayed_send(self, k_min_seq_wait, seq_wait_atom_v);
}

template <class T>
prepared_event prepare(domain::event_type type, std::int64_t key_id, T value,
                       domain::unix_ms timestamp) {
  prepared_event p;
  p.event.timestamp = timestamp;
  p.event.type = type;
  p.event.key_id = key_id;
  p.event.entity_id = value.id;
  p.event.object = domain::encode_object(value);
  p.decoded = domain::make_entity(std::move(value));
  return p;
}

template <class T>
void create(self_ptr self, create_req<T>& req) {
  if (refuse_if_broken(self, req.reply)) return;
  using traits = domain::kind_traits<T>;
  auto& st = self->state;
  const auto& entities = st.tip.entities<T>();
  const std::string& key = traits::key(req.input);
  if (auto holder = entities.with_key(key)) {
    // Cluster mode: a write in flight that the cluster may yet refuse holds the key: the
    // request is decided again once it is decided.
    if (st.redo_next && !st.committed.entities<T>().with_key(key)) {
      st.redo_after_writes.push_back(take_redo(st));
      return;
    }
    req.reply->deliver(key_taken<T>(key, *holder));
    return;
  }
  if (auto refused = over_regex_quota(st, req.input, 0)) {
    req.reply->deliver(std::move(*refused));
    return;
  }
  T value = std::move(req.input);
  value.id = entities.next_id();
  const domain::unix_ms now = next_timestamp(st);
  value.created_at = value.updated_at = now;
  std::string id = std::to_string(value.id);
  auto p = prepare(traits::created, req.key_id, std::move(value), now);
  answer response(std::get<domain::entity_ref<T>>(p.decoded)->json(st.account_id), std::move(id));
  submit(self, std::move(p), std::move(req.reply), std::move(response));
}

// If-Match: a write to a rule is refused (412) unless the request names the rule's current
// ETag (as of every write accepted before it, durable or in flight).
template <class T>
bool refuse_if_stale(const self_ptr& self, const std::string& if_match,
                     const domain::entity_ref<T>& current, const reply_to& reply) {
  if (if_match.empty()) return false;
  std::string tag = domain::entity_tag(current->json(self->state.account_id));
  if (domain::tag_listed(if_match, tag)) return false;
  std::string what = domain::kind_traits<T>::singleton
                         ? "the " + std::string(domain::kind_traits<T>::noun) + " have"
                         : std::string(domain::kind_traits<T>::noun) + " " +
                               std::to_string(current->value.id) + " has";
  reply->deliver(
      domain::make_error(domain::errc::precondition_failed,
                         what + " changed since the version If-Match names; nothing was changed",
                         {{"If-Match", "the current ETag is " + tag}}));
  return true;
}

template <class T>
void patch(self_ptr self, patch_req<T>& req) {
  if (refuse_if_broken(self, req.reply)) return;
  using traits = domain::kind_traits<T>;
  auto& st = self->state;
  const auto& entities = st.tip.entities<T>();
  const auto* current = entities.find_entity(req.id);
  if constexpr (traits::singleton) {
    // The first change of a one-object kind creates it from the defaults.
    if (current == nullptr) {
      const auto defaults = domain::make_entity(T{});
      if (refuse_if_stale(self, req.if_match, defaults, req.reply)) return;
      T value{};
      auto changed = domain::apply_patch(value, req.patch);
      if (!changed) {
        req.reply->deliver(std::move(changed).err());
        return;
      }
      if (changed->empty()) {  // the defaults, as they were
        st.writes.answer_after_inflight(std::move(req.reply), defaults->json(st.account_id),
                                        st.tip.seq(), take_redo(st));
        return;
      }
      const domain::unix_ms now = next_timestamp(st);
      value.created_at = value.updated_at = now;
      auto p = prepare(traits::created, req.key_id, std::move(value), now);
      p.event.changed = std::move(*changed);
      std::string response = std::get<domain::entity_ref<T>>(p.decoded)->json(st.account_id);
      submit(self, std::move(p), std::move(req.reply), std::move(response));
      return;
    }
  }
  if (current == nullptr) {
    req.reply->deliver(not_found<T>(req.id));
    return;
  }
  if (refuse_if_stale(self, req.if_match, *current, req.reply)) return;
  T value = (*current)->value;
  auto changed = domain::apply_patch(value, req.patch);
  if (!changed) {
    req.reply->deliver(std::move(changed).err());
    return;
  }
  if (changed->empty()) {
    st.writes.answer_after_inflight(std::move(req.reply), (*current)->json(st.account_id),
                                    st.tip.seq(), take_redo(st));
    return;
  }
  if (auto holder = entities.with_key(traits::key(value)); holder && *holder != value.id) {
    req.reply->deliver(key_taken<T>(traits::key(value), *holder));
    return;
  }
  // Only a mapping that becomes a regex takes a place (one stored before the quota keeps
  // its own, also when edited).
  if constexpr (std::is_same_v<T, referrer_mapping>) {
    if ((*current)->value.match_type != domain::match_type::regex) {
      if (auto refused = over_regex_quota(st, value, value.id)) {
        req.reply->deliver(std::move(*refused));
        return;
      }
    }
  }
  const domain::unix_ms now = next_timestamp(st);
  value.updated_at = now;
  auto p = prepare(traits::updated, req.key_id, std::move(value), now);
  p.event.changed = std::move(*changed);
  std::string response = std::get<domain::entity_ref<T>>(p.decoded)->json(st.account_id);
  submit(self, std::move(p), std::move(req.reply), std::move(response));
}

template <class T>
void remove(self_ptr self, delete_req<T>& req) {
  if (refuse_if_broken(self, req.reply)) return;
  using traits = domain::kind_traits<T>;
  auto& st = self->state;
  const auto* current = st.tip.entities<T>().find_entity(req.id);
  if (current == nullptr) {
    req.reply->deliver(not_found<T>(req.id));
    return;
  }
  if (refuse_if_stale(self, req.if_match, *current, req.reply)) return;
  prepared_event p;
  p.event.timestamp = next_timestamp(st);
  p.event.type = traits::deleted;
  p.event.key_id = req.key_id;
  p.event.entity_id = req.id;
  p.event.object = domain::encode_object((*current)->value);  // the entity as it stood
  submit(self, std::move(p), std::move(req.reply), std::string());
}

// An import: every change it makes, as one event per changed rule in one atomic write.
template <class T>
void import_rules(self_ptr self, import_req<T>& req) {
  auto& request = req.request;
  if (!request.validate_only && refuse_if_broken(self, req.reply)) return;
  using traits = domain::kind_traits<T>;
  auto& st = self->state;
  auto plan = domain::plan_import(st.tip, request);
  if (!plan) {
    req.reply->deliver(std::move(plan).err());
    return;
  }
  if constexpr (can_be_regex<T>) {
    // The regex quota holds for the state the import leaves (one over it already keeps
    // what it has, as for single writes).
    std::size_t before = regex_rules<T>(st.tip, 0);
    std::size_t after = before;
    for (const auto& u : plan->updates) {
      const T* was = st.tip.entities<T>().find(u.value.id);
      after -= was != nullptr && is_regex(*was) ? 1 : 0;
      after += is_regex(u.value) ? 1 : 0;
    }
    for (std::int64_t id : plan->deletes) {
      const T* was = st.tip.entities<T>().find(id);
      after -= was != nullptr && is_regex(*was) ? 1 : 0;
    }
    for (const auto& c : plan->creates)
      after += is_regex(c) ? 1 : 0;
    if (after > before && after > st.svc->max_regex_rules) {
      req.reply->deliver(regex_quota_error(
          "the import would leave account " + st.account_id + " with " + std::to_string(after) +
          " regex rules (mappings and channel rules); an account may hold " +
          std::to_string(st.svc->max_regex_rules) + " (--max-regex-rules)"));
      return;
    }
  }
  std::string summary = domain::import_summary_json(request, *plan);
  bool changes = !plan->creates.empty() || !plan->updates.empty() || !plan->deletes.empty();
  if (request.validate_only || !changes) {
    st.writes.answer_after_inflight(std::move(req.reply), std::move(summary), st.tip.seq(),
                                    take_redo(st));
    return;
  }
  const domain::unix_ms now = next_timestamp(st);
  std::vector<prepared_event> events;
  events.reserve(plan->creates.size() + plan->updates.size() + plan->deletes.size());
  for (auto id : plan->deletes) {
    prepared_event p;
    p.event.timestamp = now;
    p.event.type = traits::deleted;
    p.event.key_id = req.key_id;
    p.event.entity_id = id;
    p.event.object = domain::encode_object(*st.tip.entities<T>().find(id));
    events.push_back(std::move(p));
  }
  for (auto& u : plan->updates) {
    u.value.updated_at = now;
    auto p = prepare(traits::updated, req.key_id, std::move(u.value), now);
    p.event.changed = std::move(u.changed);
    events.push_back(std::move(p));
  }
  std::int64_t next_id = st.tip.entities<T>().next_id();
  for (auto& value : plan->creates) {
    value.id = next_id++;
    value.created_at = value.updated_at = now;
    events.push_back(prepare(traits::created, req.key_id, std::move(value), now));
  }
  submit(self, std::move(events), std::move(req.reply), std::move(summary));
}

// Runs `fn(self, req)` now, forwards it when this actor has left the registry, or holds
// it until the state is loaded.
template <class Req>
void handle(self_ptr self, Req& req, void (*fn)(self_ptr, Req&)) {
  auto& st = self->state;
  if (st.evicted) {
    st.svc->forward(st.account_id, account_request{std::move(req)});
    return;
  }
  st.last_request = st.svc->clock->now_ms();
  if (st.loaded) {
    if constexpr (!std::is_same_v<Req, await_loaded_req>) {
      if (st.svc->journal->shared()) {  // its write may be beaten: keep the request
        st.redo_next = [self, fn, copy = req]() mutable {
          handle(self, copy, fn);
        };
      }
    }
    fn(self, req);
    st.redo_next = nullptr;
    return;
  }
  reply_to reply = req.reply;
  st.held.emplace_back(std::move(reply),
                       [self, fn, r = std::move(req)]() mutable { handle(self, r, fn); });
}

// An exception left the actor's state in doubt: stop taking requests (they go to the
// account's next actor, which loads its state afresh from the store) and quit.
void quit_after_exception(self_ptr self) {
  auto& st = self->state;
  if (st.evicted) return;
  if (st.svc->evict(st.account_id, self->address())) {
    st.evicted = true;
    caf::anon_send(caf::actor_cast<account_actor>(self), evict_atom_v);
  }
}

// handle(), with any exception contained (see actors/guard.hpp).
template <class Req>
void guarded(self_ptr self, Req& req, void (*fn)(self_ptr, Req&)) {
  if (!contain("account " + self->state.account_id, req, [&] { handle(self, req, fn); })) {
    quit_after_exception(self);
  }
}

std::chrono::milliseconds idle_check_period(const services& svc) {
  return std::max(svc.idle_timeout / 4, std::chrono::milliseconds(10));
}

// A moment after the last publish: a layer still over the full build is compacted by a
// full build on a loader (unless writes came meanwhile: then look again later).
void on_settle(self_ptr self) {
  auto& st = self->state;
  st.settle_pending = false;
  if (st.evicted || !st.loaded) return;
  const auto& idx = st.committed.mappings_index();
  if (!idx || idx->layered() == 0) return;
  if (st.svc->clock->now_ms() - st.last_publish < k_settle_after.count() || st.building_indexes) {
    st.settle_pending = true;
    self->delayed_send(self, k_settle_after, settle_atom_v);
    return;
  }
  build_indexes(self, std::make_shared<const domain::account_state>(st.committed));
}

// Leaves the registry when nothing has used the account for the idle timeout.
void on_idle_tick(self_ptr self) {
  auto& st = self->state;
  if (st.evicted) return;
  auto last_use = std::max(st.last_request, st.published->last_read_ms.load());
  bool idle = st.loaded && st.writes.empty() && st.redo_after_sync.empty() &&
              st.redo_after_writes.empty() && !st.resync && st.seq_waiters.empty() &&
              st.svc->clock->now_ms() - last_use >= st.svc->idle_timeout.count();
  if (idle && st.svc->evict(st.account_id, self->address())) {
    // Nothing is sent here any more; what is in the mailbox is forwarded, then quit.
    st.evicted = true;
    infra::metrics().account_actor_evictions.fetch_add(1, std::memory_order_relaxed);
    if (infra::log_enabled(infra::log_level::info)) {
      infra::log(infra::log_level::info,
                 "account " + st.account_id + " unloaded after " +
                     std::to_string((st.svc->clock->now_ms() - last_use) / 1000) +
                     " s without use");
    }
    caf::anon_send(caf::actor_cast<account_actor>(self), evict_atom_v);
    return;
  }
  self->delayed_send(self, idle_check_period(*st.svc), idle_tick_atom_v);
}

// A stored history that fails its checks is reported as such (500 store_corrupted: a
// retry cannot help); anything else as unavailable (503: a retry may).
void fail_held(self_ptr self, const std::string& why,
               domain::errc code = domain::errc::unavailable) {
  auto held = std::move(self->state.held);
  self->state.held.clear();
  if (code != domain::errc::store_corrupted) code = domain::errc::unavailable;
  for (auto& [reply, fn] : held) {
    reply->deliver(domain::make_error(
        code, "account " + self->state.account_id + " could not be loaded: " + why));
  }
}

// The load failed and the held requests have their error. A request sent before the actor
// leaves the registry may still be on its way (its load can fail before the request that
// spawned it is even queued): leave the registry first, so that what is still in the mailbox
// goes to the account's next actor (which loads again and answers it), then quit.
void leave_after_failed_load(self_ptr self) {
  auto& st = self->state;
  if (!st.evicted && st.svc->evict(st.account_id, self->address())) {
    st.evicted = true;
    caf::anon_send(caf::actor_cast<account_actor>(self), evict_atom_v);
    return;
  }
  self->quit(caf::sec::runtime_error);
}

account_actor::behavior_type account_behavior(self_ptr self, std::string account_id, services* svc,
                                              std::shared_ptr<published_state> published) {
  auto& st = self->state;
  st.account_id = account_id;
  st.svc = svc;
  st.published = std::move(published);
  st.committed = domain::account_state(account_id);
  st.tip = st.committed;
  st.last_request = st.svc->clock->now_ms();
  self->delayed_send(self, idle_check_period(*svc), idle_tick_atom_v);
  auto load_started = std::chrono::steady_clock::now();
  self->request(svc->loaders, svc->load_timeout, load_account_req{account_id})
      .then(
          [self, load_started](loaded_account& result) {
            if (!result.state) {
              auto code = static_cast<domain::errc>(result.code);
              if (code == domain::errc::store_corrupted && self->state.svc->broken != nullptr) {
                self->state.svc->broken->mark(self->state.account_id, result.error);
              }
              fail_held(self, result.error, code);
              leave_after_failed_load(self);
              return;
            }
            self->state.snapshot_seq = result.snapshot_seq;
            self->state.committed = *result.state;
            self->state.tip = *result.state;
            self->state.loaded = true;
            note_known(self->state);
            publish(self);
            infra::metrics().account_load_seconds.observe(
                std::chrono::duration<double>(std::chrono::steady_clock::now() - load_started)
                    .count());
            if (infra::log_enabled(infra::log_level::info)) {
              const auto& s = *result.state;
              auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - load_started)
                            .count();
              infra::log(infra::log_level::info,
                         "account " + self->state.account_id + " loaded in " + std::to_string(ms) +
                             " ms: " + std::to_string(s.referrers().size() + s.mappings().size()) +
                             " rules at event " + std::to_string(s.seq()));
            }
            self->state.resync = true;  // learn where the account stands in the journal
            sync_with_journal(self);
            auto held = std::move(self->state.held);
            self->state.held.clear();
            for (auto& held_request : held)
              held_request.second();
          },
          [self](caf::error&) {
            fail_held(self, "loading the account timed out");
            leave_after_failed_load(self);
          });
  return {
      [self](passthrough_create_req& r) { guarded(self, r, &create<passthrough_referrer>); },
      [self](passthrough_patch_req& r) { guarded(self, r, &patch<passthrough_referrer>); },
      [self](passthrough_delete_req& r) { guarded(self, r, &remove<passthrough_referrer>); },
      [self](mapping_create_req& r) { guarded(self, r, &create<referrer_mapping>); },
      [self](mapping_patch_req& r) { guarded(self, r, &patch<referrer_mapping>); },
      [self](mapping_delete_req& r) { guarded(self, r, &remove<referrer_mapping>); },
      [self](passthrough_import_req& r) { guarded(self, r, &import_rules<passthrough_referrer>); },
      [self](mapping_import_req& r) { guarded(self, r, &import_rules<referrer_mapping>); },
      [self](channel_create_req& r) { guarded(self, r, &create<domain::channel_rule>); },
      [self](channel_patch_req& r) { guarded(self, r, &patch<domain::channel_rule>); },
      [self](channel_delete_req& r) { guarded(self, r, &remove<domain::channel_rule>); },
      [self](channel_import_req& r) { guarded(self, r, &import_rules<domain::channel_rule>); },
      [self](settings_patch_req& r) { guarded(self, r, &patch<domain::account_settings>); },
      [self](await_loaded_req& r) { guarded(self, r, &await_loaded); },
      [self](commit_ack& ack) {
        if (!contain("account " + self->state.account_id, ack, [&] { on_ack(self, ack); })) {
          quit_after_exception(self);
        }
      },
      [self](idle_tick_atom) { on_idle_tick(self); },
      [self](evict_atom) { self->quit(); },
      [self](settle_atom) { on_settle(self); },
      [self](seq_wait_atom) { answer_seq_waiters(self); },
      [self](cluster_sync_atom tick) {
        if (!contain("account " + self->state.account_id, tick, [&] { sync_with_journal(self); })) {
          quit_after_exception(self);
        }
      },
      [self](copied_events& copied) {
        const auto& state = self->state;
        if (!state.resync && state.loaded && copied.last_event <= state.committed.seq()) return;
        if (!contain("account " + self->state.account_id, copied, [&] {
              if (!fold_copied(self, copied)) sync_with_journal(self);
            })) {
          quit_after_exception(self);
        }
      },
  };
}

}  // namespace

account_actor spawn_account_actor(caf::actor_system& sys, std::string account_id, services* svc,
                                  std::shared_ptr<published_state> published) {
  return sys.spawn(account_behavior, std::move(account_id), svc, std::move(published));
}

}  // namespace referrald::actors
