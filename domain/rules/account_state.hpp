#pragma once

// The rule state of one account: nothing but the fold of its events.
//
// A value type that is cheap to copy: its collections are persistent maps that share
// structure between versions, so an actor can keep its durable state and a speculative
// one side by side, and publish immutable snapshots to readers on other threads, each
// in O(1). A given object is not thread-safe to modify; a snapshot that nobody modifies
// may be read from any number of threads.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <variant>
#include <vector>

#include "domain/base/digest.hpp"
#include "domain/base/key_filter.hpp"
#include "domain/base/persistent_map.hpp"
#include "domain/base/result.hpp"
#include "domain/match/mapping_changes.hpp"
#include "domain/rules/entities.hpp"
#include "domain/rules/event.hpp"

namespace referrald::domain {

class mapping_index;

// The entities of one kind in an account: by id, by unique key, with counters.
template <class T>
class collection {
 public:
  using map_type = persistent_map<std::int64_t, entity_ref<T>>;

  const map_type& items() const { return items_; }
  std::size_t size() const { return items_.size(); }
  std::size_t active_count() const { return active_; }
  std::int64_t next_id() const { return next_id_; }

  const T* find(std::int64_t id) const {
    const auto* e = items_.find(id);
    return e == nullptr ? nullptr : &(*e)->value;
  }
  const entity_ref<T>* find_entity(std::int64_t id) const { return items_.find(id); }

  // The entity holding a unique key (normalized domain or pattern), active or not. A key
  // the filter has never seen is answered without a walk of the map: the passthrough
  // lookup asks for every parent domain of a visit's referrer, and most are not held.
  std::optional<std::int64_t> with_key(std::string_view key) const {
    if (!key_filter_.may_hold(key)) return std::nullopt;
    const auto* id = keys_.find(key);
    if (id == nullptr) return std::nullopt;
    return *id;
  }

  // A collection holding `entities` (in ascending id order) whose next id is `next_id`, as
  // a snapshot recorded it. An error when ids repeat or are not ascending, unique keys
  // collide, or `next_id` is not above every id.
  static result<collection> restore(std::vector<entity_ref<T>> entities, std::int64_t next_id);

  // Fold steps; an error (and no change) when the step does not fit.
  status add(entity_ref<T> e);
  status replace(entity_ref<T> e);
  status remove(std::int64_t id);

  // Equal entities, keys and counters (the filter follows from the keys).
  friend bool operator==(const collection& a, const collection& b) {
    return a.items_ == b.items_ && a.keys_ == b.keys_ && a.next_id_ == b.next_id_ &&
           a.active_ == b.active_;
  }

 private:
  map_type items_;
  persistent_map<std::string, std::int64_t> keys_;
  key_filter key_filter_;  // of keys_

  void note_key(std::string_view key);
  std::int64_t next_id_ = 1;
  std::size_t active_ = 0;
};

// An entity decoded ahead of applying its event (the actor has it already), so that it
// is decoded — and a regex compiled — once, and shared by every state that applies it.
template <class... Ts>
std::variant<std::monostate, entity_ref<Ts>...> decoded_of(kind_list<Ts...>);
using decoded_entity = decltype(decoded_of(rule_kinds{}));

// One collection per kind of rule_kinds, in its order.
template <class... Ts>
std::tuple<collection<Ts>...> collections_of(kind_list<Ts...>);
using kind_collections = decltype(collections_of(rule_kinds{}));

// The checks every fold of an account's events makes before applying `e` to a state whose
// last event is `seq` with hash `head`: `e` is the next event and chains to it, and its
// entity exists (update, delete) or has a fresh id (create: not `exists` and at least
// `next_id`). Why `e` does not fit, or nullopt. Shared by account_state::apply and the
// snapshot loader's tail fold.
std::optional<std::string> event_misfit(const event& e, std::uint64_t seq,
                                        const sha256_digest& head, bool exists,
                                        std::int64_t next_id);

class account_state {
 public:
  explicit account_state(std::string account_id = {});

  const std::string& account_id() const { return account_id_; }

  // A number no other state, and no other version of this one, has had: drawn afresh when a
  // state is made, copied or assigned, and whenever it changes (apply, the indexes). What
  // is computed from one version and kept (attribution/referrer_facts.hpp) is keyed by it.
  std::uint64_t version() const { return version_.id(); }

  // The state a snapshot recorded after event `seq` (snapshots/).
  static account_state restore(std::string account_id, std::uint64_t seq,
                               const sha256_digest& head_hash, unix_ms last_timestamp,
                               kind_collections collections);

  // The last applied event: its sequence number (0 before any), hash and timestamp.
  std::uint64_t seq() const { return seq_; }
  const sha256_digest& head_hash() const { return head_hash_; }
  unix_ms last_timestamp() const { return last_timestamp_; }

  // Applies the next event. Fails, leaving the state unchanged, when `e.seq` is not
  // seq()+1, `e.prev_hash` is not head_hash(), or the event does not fit the state
  // (unknown entity, duplicate id or key, undecodable object). `decoded`, when given,
  // is the event's object already decoded.
  status apply(const event& e, const decoded_entity& decoded = {});

  template <class T>
  const collection<T>& entities() const {
    return std::get<collection<T>>(collections_);
  }
  const kind_collections& collections() const { return collections_; }

  // -- shorthands ------------------------------------------------------------------
  const collection<passthrough_referrer>& referrers() const { return referrers_(); }
  const collection<referrer_mapping>& mappings() const { return mappings_(); }
  const passthrough_referrer* find_referrer(std::int64_t id) const { return referrers().find(id); }
  // The account's settings, or null when it has the defaults (never changed them).
  const account_settings* settings() const { return entities<account_settings>().find(1); }

  // The active channel rules in the order they are tried (priority, highest first, then
  // id), as of the last refresh_indexes(); when rules changed since, made anew into
  // `scratch` (any thread, the state is not changed).
  std::span<const channel_rule* const> channel_rules(
      std::vector<const channel_rule*>& scratch) const;

  // The active passthrough referrer covering `host` (normalized): the one whose domain is
  // the host or its nearest parent domain, or nullptr. O(labels · log referrers), straight
  // from the collection's domain keys, so no index needs rebuilding when referrers change.
  const passthrough_referrer* covering_referrer(std::string_view host) const;

  // The compiled lookup index of the active mappings, as of the last refresh_indexes()
  // (null before the first).
  const std::shared_ptr<const mapping_index>& mappings_index() const {
    return mappings_idx_.current;
  }

  // Brings the index up to date. A full build costs O(rules); after one, the rules
  // changed since are layered over it, at O(changes). `full_when_due` builds in full once
  // full_index_build_due(); `layered` never does (the caller has it built elsewhere, with
  // build_full_indexes(), and adopts the result).
  enum class index_refresh { full_when_due, layered };
  void refresh_indexes(index_refresh how = index_refresh::full_when_due);

  // True when so many mappings changed since the last full build that layering them costs
  // more than building again: more than max(64, 4·√mappings).
  bool full_index_build_due() const;

  // The full index of this state, built from scratch (any thread; the state is not changed).
  struct full_indexes {
    std::uint64_t seq = 0;  // of the state they were built from
    std::shared_ptr<const mapping_index> mappings;
  };
  full_indexes build_full_indexes() const;

  // Takes `built` (from this state, or an earlier version of it) as the full build to layer
  // over: the changes up to its seq are in it. Call refresh_indexes() after.
  void adopt_indexes(const full_indexes& built);

  // Equal when the folds are equal (the derived index is not compared).
  friend bool operator==(const account_state& a, const account_state& b);

 private:
  template <class T>
  status apply_kind(const event& e, const decoded_entity& decoded, collection<T>& c);

  collection<passthrough_referrer>& referrers_() { return std::get<0>(collections_); }
  const collection<passthrough_referrer>& referrers_() const { return std::get<0>(collections_); }
  collection<referrer_mapping>& mappings_() { return std::get<1>(collections_); }
  const collection<referrer_mapping>& mappings_() const { return std::get<1>(collections_); }

  class version_stamp {
   public:
    version_stamp() : id_(next()) {}
    version_stamp(const version_stamp&) : id_(next()) {}
    version_stamp& operator=(const version_stamp&) {
      id_ = next();
      return *this;
    }
    void renew() { id_ = next(); }
    std::uint64_t id() const { return id_; }

   private:
    static std::uint64_t next();
    std::uint64_t id_;
  };

  std::string account_id_;
  version_stamp version_;
  std::uint64_t seq_ = 0;
  sha256_digest head_hash_{};
  unix_ms last_timestamp_ = 0;

  kind_collections collections_;

  // The active channel rules in order, made by refresh_indexes(); stale (not to be used)
  // while channel rules changed since.
  std::shared_ptr<const std::vector<const channel_rule*>> channel_order_;
  bool channel_order_stale_ = false;

  // The mapping index: a full build, and the ids changed since (with the seq of their last
  // change), which `current` layers over it.
  template <class Index>
  struct index_layers {
    std::shared_ptr<const Index> full;
    std::uint64_t full_seq = 0;  // the seq of the state `full` was built from
    persistent_map<std::int64_t, std::uint64_t> changed;
    mapping_changes changes;  // the changed mappings themselves, kept per change
    std::shared_ptr<const Index> current;
    bool stale = true;  // changed since `current` was made
  };
  template <class Index, class T>
  static void refresh(index_layers<Index>& x, const collection<T>& c, std::uint64_t seq, bool full);
  template <class Index, class T>
  static void adopt(index_layers<Index>& x, std::shared_ptr<const Index> full, std::uint64_t seq,
                    const collection<T>& c);
  template <class Index>
  static bool due(const index_layers<Index>& x);

  index_layers<mapping_index> mappings_idx_;
};

// -- the API's views of a state (shared by the actor and the direct read path) ---------

// Which rules a list shows, and which page of them (docs/api-guide.md, "Lists and pages").
struct list_query {
  bool include_inactive = false;
  std::optional<bool> is_active;      // only active (true) or inactive (false) rules
  std::string q;                      // lowercase; a substring of a searched field
  std::optional<match_type> matches;  // mappings of this match type
  std::size_t limit = 100;
  std::int64_t starting_after = 0;  // ids above this one
  bool paged = true;  // false: every selected rule, without has_more / next_starting_after
};

// {"<kind list name>":[...],"total":n,"active_count":m,"has_more":b,
//  "next_starting_after":id|null}: the page of rules `query` selects, in id order; `total`
// and `active_count` count the account's rules of the kind.
template <class T>
std::string list_json(const account_state& s, const list_query& query);

// Every rule (active ones, or all): {"<kind list name>":[...],"total":n,"active_count":m}, the
// shape `referralctl replay` prints and snapshots are compared by.
template <class T>
std::string list_json(const account_state& s, bool include_inactive) {
  list_query all;
  all.include_inactive = include_inactive;
  all.limit = SIZE_MAX;
  all.paged = false;
  return list_json<T>(s, all);
}

// The entity's JSON, or not_found.
template <class T>
result<std::string> get_json(const account_state& s, std::int64_t id);

}  // namespace referrald::domain
