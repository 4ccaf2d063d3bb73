#include "domain/rules/account_state.hpp"

#include "domain/base/pager.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <atomic>
#include <cmath>

#include "domain/match/mapping_index.hpp"

namespace referrald::domain {

namespace {

error corrupt(const event& e, const std::string& why) {
  return make_error(errc::internal, "event " + std::to_string(e.seq) + " (" +
                                        std::string(to_string(e.type)) + "): " + why);
}

error unfit(const std::string& why) { return make_error(errc::internal, why); }

}  // namespace

// -- collection -------------------------------------------------------------------------

template <class T>
status collection<T>::add(entity_ref<T> e) {
  const T& v = e->value;
  if (items_.find(v.id) != nullptr || v.id < next_id_) {
    return unfit("id " + std::to_string(v.id) + " was already used");
  }
  const std::string& key = kind_traits<T>::key(v);
  if (keys_.find(key) != nullptr)
    return unfit("duplicate " + std::string(kind_traits<T>::key_field));
  keys_.put(key, v.id);
  note_key(key);
  next_id_ = v.id + 1;
  if (v.is_active) ++active_;
  items_.put(v.id, std::move(e));
  return {};
}

template <class T>
void collection<T>::note_key(std::string_view key) {
  key_filter_.add(key, keys_.size(), [this](const auto& fn) {
    for (const auto& [k, id] : keys_)
      fn(k);
  });
}

template <class T>
status collection<T>::replace(entity_ref<T> e) {
  const T& v = e->value;
  const auto* existing = items_.find(v.id);
  if (existing == nullptr) return unfit("updates an unknown " + std::string(kind_traits<T>::noun));
  const T& old = (*existing)->value;
  const std::string& old_key = kind_traits<T>::key(old);
  const std::string& new_key = kind_traits<T>::key(v);
  if (old_key != new_key) {
    if (keys_.find(new_key) != nullptr) {
      return unfit("duplicate " + std::string(kind_traits<T>::key_field));
    }
    keys_ = keys_.erase(old_key);
    keys_.put(new_key, v.id);
    note_key(new_key);
  }
  if (old.is_active) --active_;
  if (v.is_active) ++active_;
  items_.put(v.id, std::move(e));
  return {};
}

template <class T>
status collection<T>::remove(std::int64_t id) {
  const auto* existing = items_.find(id);
  if (existing == nullptr) return unfit("deletes an unknown " + std::string(kind_traits<T>::noun));
  if ((*existing)->value.is_active) --active_;
  keys_ = keys_.erase(kind_traits<T>::key((*existing)->value));
  items_ = items_.erase(id);
  return {};
}

template <class T>
result<collection<T>> collection<T>::restore(std::vector<entity_ref<T>> entities,
                                             std::int64_t next_id) {
  collection c;
  for (auto& e : entities) {
    if (!e) return unfit("empty entity");
    if (auto st = c.add(std::move(e)); !st) return std::move(st).err();
  }
  if (next_id < c.next_id_) {
    return unfit("next id " + std::to_string(next_id) + " is not above every id");
  }
  c.next_id_ = next_id;
  return c;
}

template class collection<passthrough_referrer>;
template class collection<referrer_mapping>;
template class collection<channel_rule>;
template class collection<account_settings>;

// -- account_state ----------------------------------------------------------------------

account_state::account_state(std::string account_id) : account_id_(std::move(account_id)) {}

std::uint64_t account_state::version_stamp::next() {
  static std::atomic<std::uint64_t> last{0};
  return last.fetch_add(1, std::memory_order_relaxed) + 1;
}

account_state account_state::restore(std::string account_id, std::uint64_t seq,
                                     const sha256_digest& head_hash, unix_ms last_timestamp,
                                     kind_collections collections) {
  account_state s(std::move(account_id));
  s.seq_ = seq;
  s.head_hash_ = head_hash;
  s.last_timestamp_ = last_timestamp;
  s.collections_ = std::move(collections);
  s.channel_order_stale_ = s.entities<channel_rule>().size() > 0;
  s.version_.renew();
  return s;
}

bool operator==(const account_state& a, const account_state& b) {
  return a.account_id_ == b.account_id_ && a.seq_ == b.seq_ && a.head_hash_ == b.head_hash_ &&
         a.last_timestamp_ == b.last_timestamp_ && a.collections_ == b.collections_;
}

std::optional<std::string> event_misfit(const event& e, std::uint64_t seq,
                                        const sha256_digest& head, bool exists,
                                        std::int64_t next_id) {
  if (e.seq != seq + 1) return "expected sequence number " + std::to_string(seq + 1);
  if (e.prev_hash != head) return "does not chain to the previous event";
  // Types run created, updated, deleted per kind.
  bool create = (static_cast<int>(e.type) - 1) % 3 == 0;
  bool remove = (static_cast<int>(e.type) - 1) % 3 == 2;
  if (create && (exists || e.entity_id < next_id)) {
    return "id " + std::to_string(e.entity_id) + " was already used";
  }
  if (!create && !exists) {
    std::string_view noun = visit_kind(
        kind_of(e.type), []<class T>(std::type_identity<T>) { return kind_traits<T>::noun; });
    return (remove ? "deletes an unknown " : "updates an unknown ") + std::string(noun);
  }
  return std::nullopt;
}

template <class T>
status account_state::apply_kind(const event& e, const decoded_entity& decoded, collection<T>& c) {
  using traits = kind_traits<T>;
  if (e.type == traits::deleted) {
    auto st = c.remove(e.entity_id);
    return st ? st : corrupt(e, st.err().message);
  }
  entity_ref<T> ent;
  if (const auto* pre = std::get_if<entity_ref<T>>(&decoded); pre != nullptr && *pre) {
    ent = *pre;
  } else {
    auto value = decode_object<T>(e.format, e.object);
    if (!value) return corrupt(e, value.err().message);
    // An update that keeps a regex pattern keeps its compiled form.
    if constexpr (std::is_same_v<T, referrer_mapping>) {
      if (const auto* old = c.find(value->id); old != nullptr && old->regex &&
                                               old->referrer_pattern == value->referrer_pattern &&
                                               value->match_type == match_type::regex) {
        value->regex = old->regex;
      }
    }
    ent = make_entity(std::move(*value));
  }
  if (ent->value.id != e.entity_id) return corrupt(e, "object id differs from the entity id");
  auto st = e.type == traits::created ? c.add(std::move(ent)) : c.replace(std::move(ent));
  return st ? st : corrupt(e, st.err().message);
}

status account_state::apply(const event& e, const decoded_entity& decoded) {
  version_.renew();
  return visit_kind(kind_of(e.type), [&]<class T>(std::type_identity<T>) -> status {
    auto& c = std::get<collection<T>>(collections_);
    if (auto why = event_misfit(e, seq_, head_hash_, c.find(e.entity_id) != nullptr, c.next_id()))
      return corrupt(e, *why);
    entity_ref<T> before;
    if constexpr (std::is_same_v<T, referrer_mapping>) {
      if (const auto* was = c.find_entity(e.entity_id)) before = *was;
    }
    if (auto st = apply_kind(e, decoded, c); !st) return st;
    if constexpr (std::is_same_v<T, referrer_mapping>) {
      auto& x = mappings_idx_;
      x.changed.put(e.entity_id, e.seq);
      if (x.full) x.changes.change(e.entity_id, &before, c.find_entity(e.entity_id));
      x.stale = true;
    }
    if constexpr (std::is_same_v<T, channel_rule>) channel_order_stale_ = true;
    seq_ = e.seq;
    head_hash_ = e.hash;
    last_timestamp_ = std::max(last_timestamp_, e.timestamp);
    return {};
  });
}

template <class Index, class T>
void account_state::refresh(index_layers<Index>& x, const collection<T>& c, std::uint64_t seq,
                            bool full) {
  if (full || !x.full) {
    x.full = Index::build(c);
    x.full_seq = seq;
    x.changed = {};
    x.changes = {};
    x.current = x.full;
  } else if (x.stale) {
    x.current = x.changed.empty() ? x.full : Index::over(x.full, x.changes, c.active_count());
  }
  x.stale = false;
}

template <class Index>
bool account_state::due(const index_layers<Index>& x) {
  if (!x.full) return false;
  double rules = static_cast<double>(x.full->size());
  // Changed contains and regex rules are tried one by one: few of them.
  return static_cast<double>(x.changed.size()) > std::max(64.0, 4.0 * std::sqrt(rules)) ||
         x.changes.scanned.size() > 64;
}

template <class Index, class T>
void account_state::adopt(index_layers<Index>& x, std::shared_ptr<const Index> full,
                          std::uint64_t seq, const collection<T>& c) {
  if (x.full && seq <= x.full_seq) return;  // not newer than the one in use
  persistent_map<std::int64_t, std::uint64_t> later;
  mapping_changes changes;
  for (auto [id, changed_at] : x.changed) {
    if (changed_at <= seq) continue;
    later.put(id, changed_at);
    changes.change(id, nullptr, c.find_entity(id));
  }
  x.full = std::move(full);
  x.full_seq = seq;
  x.changed = std::move(later);
  x.changes = std::move(changes);
  x.stale = true;
}

namespace {

std::vector<const channel_rule*> order_channel_rules(const collection<channel_rule>& c) {
  std::vector<const channel_rule*> out;
  out.reserve(c.active_count());
  for (auto [id, e] : c.items())
    if (e->value.is_active) out.push_back(&e->value);
  std::stable_sort(out.begin(), out.end(), [](const channel_rule* a, const channel_rule* b) {
    return a->priority > b->priority;  // ids ascend already
  });
  return out;
}

}  // namespace

std::span<const channel_rule* const> account_state::channel_rules(
    std::vector<const channel_rule*>& scratch) const {
  if (entities<channel_rule>().active_count() == 0) return {};
  if (!channel_order_stale_ && channel_order_) return *channel_order_;
  scratch = order_channel_rules(entities<channel_rule>());
  return scratch;
}

const passthrough_referrer* account_state::covering_referrer(std::string_view host) const {
  const auto& refs = referrers();
  if (refs.active_count() == 0) return nullptr;
  // The host itself first, then ever shorter parent domains: the first hit is the most
  // specific rule. Domains are unique among all referrers, active or not.
  for (std::size_t pos = 0;;) {
    if (auto id = refs.with_key(host.substr(pos))) {
      const auto* p = refs.find(*id);
      if (p != nullptr && p->is_active) return p;
    }
    pos = host.find('.', pos);
    if (pos == std::string_view::npos) return nullptr;
    ++pos;
  }
}

void account_state::refresh_indexes(index_refresh how) {
  version_.renew();
  bool full = how == index_refresh::full_when_due && full_index_build_due();
  refresh(mappings_idx_, mappings_(), seq_, full);
  if (channel_order_stale_) {
    channel_order_ = std::make_shared<const std::vector<const channel_rule*>>(
        order_channel_rules(entities<channel_rule>()));
    channel_order_stale_ = false;
  }
}

bool account_state::full_index_build_due() const { return due(mappings_idx_); }

account_state::full_indexes account_state::build_full_indexes() const {
  return {seq_, mapping_index::build(mappings_())};
}

void account_state::adopt_indexes(const full_indexes& built) {
  version_.renew();
  if (built.seq > seq_) return;  // built from a state this one has not reached
  adopt(mappings_idx_, built.mappings, built.seq, mappings_());
}

namespace {

// Whether `field` holds `q` (lowercase), ASCII case-insensitively.
bool holds(std::string_view field, std::string_view q) {
  if (q.size() > field.size()) return false;
  for (std::size_t at = 0; at + q.size() <= field.size(); ++at) {
    std::size_t i = 0;
    while (i < q.size() && std::tolower(static_cast<unsigned char>(field[at + i])) ==
                               static_cast<unsigned char>(q[i])) {
      ++i;
    }
    if (i == q.size()) return true;
  }
  return false;
}

bool searched(const passthrough_referrer& r, std::string_view q) {
  return holds(r.domain, q) || (r.service_name && holds(*r.service_name, q));
}

bool searched(const channel_rule& c, std::string_view q) {
  return holds(c.name, q) || holds(c.channel, q) || (c.description && holds(*c.description, q));
}

bool searched(const referrer_mapping& m, std::string_view q) {
  return holds(m.referrer_pattern, q) || holds(m.label, q) ||
         (m.description && holds(*m.description, q));
}

template <class T>
bool selected(const T& value, const list_query& query) {
  bool active_wanted = query.is_active ? value.is_active == *query.is_active
                                       : query.include_inactive || value.is_active;
  if (!active_wanted) return false;
  if constexpr (std::is_same_v<T, referrer_mapping> || std::is_same_v<T, channel_rule>) {
    if (query.matches && value.match_type != *query.matches) return false;
  }
  return query.q.empty() || searched(value, query.q);
}

}  // namespace

template <class T>
std::string list_json(const account_state& s, const list_query& query) {
  const collection<T>& c = s.entities<T>();
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  w.StartObject();
  write_key(w, kind_traits<T>::list_name);
  w.StartArray();
  pager<std::int64_t> page(query.limit);
  for (auto it = c.items().upper_bound(query.starting_after); it != c.items().end(); ++it) {
    auto [id, e] = *it;
    if (!selected(e->value, query)) continue;
    if (!page.room()) break;
    const std::string& json = e->json(s.account_id());
    w.RawValue(json.data(), json.size(), rapidjson::kObjectType);
    page.wrote(id);
  }
  w.EndArray();
  w.Key("total");
  w.Uint64(c.size());
  w.Key("active_count");
  w.Uint64(c.active_count());
  if (query.paged) page.finish(w);
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

template <class T>
result<std::string> get_json(const account_state& s, std::int64_t id) {
  const auto* e = s.entities<T>().find_entity(id);
  if constexpr (kind_traits<T>::singleton) {
    // An account that never changed it has the defaults.
    if (e == nullptr && id == 1) return entity_json(s.account_id(), T{});
  }
  if (e == nullptr) {
    return make_error(errc::not_found, std::string(kind_traits<T>::noun) + " " +
                                           std::to_string(id) + " does not exist");
  }
  return (*e)->json(s.account_id());
}

template std::string list_json<passthrough_referrer>(const account_state&, const list_query&);
template std::string list_json<referrer_mapping>(const account_state&, const list_query&);
template result<std::string> get_json<passthrough_referrer>(const account_state&, std::int64_t);
template result<std::string> get_json<referrer_mapping>(const account_state&, std::int64_t);
template std::string list_json<channel_rule>(const account_state&, const list_query&);
template result<std::string> get_json<channel_rule>(const account_state&, std::int64_t);
template result<std::string> get_json<account_settings>(const account_state&, std::int64_t);

}  // namespace referrald::domain
