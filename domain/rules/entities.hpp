#pragma once

// The rule kinds an account holds, and what generic code needs to know about each: its
// event types, its names in the API, its unique key and its field table, from which its
// validation, patching, JSON and stored encoding are derived (domain/rules/entities.cpp).
// Adding a kind means adding a model with a field table, a kind_traits specialization and
// its place in rule_kinds; docs/storage.md lists what else names a kind.

#include <rapidjson/fwd.h>

#include <atomic>
#include <concepts>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

#include "domain/base/json.hpp"
#include "domain/base/result.hpp"
#include "domain/rules/channel_rule.hpp"
#include "domain/rules/event.hpp"
#include "domain/rules/mapping.hpp"
#include "domain/rules/passthrough.hpp"
#include "domain/rules/settings.hpp"

namespace referrald::domain {

// A stored entity and its API JSON, made on first use and then kept: entities made in
// bulk (an import, a load) are mostly never shown one by one, and those shown often are
// written once. Shared between threads; the JSON is made at most once for good.
template <class T>
class entity {
 public:
  explicit entity(T v) : value(std::move(v)) {}
  entity(const entity&) = delete;
  entity& operator=(const entity&) = delete;
  ~entity() { delete json_.load(std::memory_order_acquire); }

  const T value;

  // The API JSON (`account_id` is the owning account's, the same on every call).
  const std::string& json(std::string_view account_id) const {
    if (const std::string* made = json_.load(std::memory_order_acquire)) return *made;
    auto* mine = new std::string(entity_json(account_id, value));
    const std::string* expected = nullptr;
    if (json_.compare_exchange_strong(expected, mine, std::memory_order_acq_rel)) return *mine;
    delete mine;  // another thread made it first
    return *expected;
  }

  friend bool operator==(const entity& a, const entity& b) { return a.value == b.value; }

 private:
  mutable std::atomic<const std::string*> json_{nullptr};
};

// A shared, immutable entity; equality compares contents.
template <class T>
class entity_ref {
 public:
  entity_ref() = default;
  explicit entity_ref(std::shared_ptr<const entity<T>> p) : p_(std::move(p)) {}
  const entity<T>& operator*() const { return *p_; }
  const entity<T>* operator->() const { return p_.get(); }
  explicit operator bool() const { return p_ != nullptr; }
  friend bool operator==(const entity_ref& a, const entity_ref& b) {
    return a.p_ == b.p_ || (a.p_ && b.p_ && *a.p_ == *b.p_);
  }

 private:
  std::shared_ptr<const entity<T>> p_;
};

template <class T>
entity_ref<T> make_entity(T value) {
  return entity_ref<T>(std::make_shared<const entity<T>>(std::move(value)));
}

// The entity kind an event is about; stored in the event type's byte.
enum class entity_kind : std::uint8_t {
  passthrough_referrer = 1,
  referrer_mapping = 2,
  channel_rule = 3,
  account_settings = 4,
};

template <class T>
struct kind_traits;

// What follows from a kind's entity_kind: its event types (three per kind, in the order of
// event_type).
template <entity_kind K>
struct kind_events {
  static constexpr entity_kind kind = K;
  static constexpr auto first = 3 * (static_cast<int>(K) - 1) + 1;
  static constexpr event_type created = static_cast<event_type>(first);
  static constexpr event_type updated = static_cast<event_type>(first + 1);
  static constexpr event_type deleted = static_cast<event_type>(first + 2);
};

// noun: in messages; list_name: the array of a list; key_field: the unique field (409 when
// taken); entity: the event family's name in the audit log; singleton: one object per
// account (id 1), created by its first change and never deleted.
template <>
struct kind_traits<passthrough_referrer> : kind_events<entity_kind::passthrough_referrer> {
  static constexpr std::string_view noun = "passthrough referrer", list_name = "referrers",
                                    key_field = "domain", entity = "passthrough_referrer";
  static constexpr bool singleton = false;
  static auto fields() { return passthrough_fields(); }
  static const std::string& key(const passthrough_referrer& r) { return r.domain; }
};

template <>
struct kind_traits<referrer_mapping> : kind_events<entity_kind::referrer_mapping> {
  static constexpr std::string_view noun = "referrer mapping", list_name = "mappings",
                                    key_field = "referrer_pattern", entity = "referrer_mapping";
  static constexpr bool singleton = false;
  static auto fields() { return mapping_fields(); }
  static const std::string& key(const referrer_mapping& m) { return m.referrer_pattern; }
};

template <>
struct kind_traits<channel_rule> : kind_events<entity_kind::channel_rule> {
  static constexpr std::string_view noun = "channel rule", list_name = "channel_rules",
                                    key_field = "name", entity = "channel_rule";
  static constexpr bool singleton = false;
  static auto fields() { return channel_rule_fields(); }
  static const std::string& key(const channel_rule& c) { return c.name; }
};

template <>
struct kind_traits<account_settings> : kind_events<entity_kind::account_settings> {
  static constexpr std::string_view noun = "account settings", list_name = "settings",
                                    key_field = "id", entity = "account_settings";
  static constexpr bool singleton = true;
  static auto fields() { return settings_fields(); }
  static const std::string& key(const account_settings&) {
    static const std::string k = "settings";
    return k;
  }
};

static_assert(kind_traits<passthrough_referrer>::deleted ==
              event_type::passthrough_referrer_deleted);
static_assert(kind_traits<referrer_mapping>::created == event_type::referrer_mapping_created);
static_assert(kind_traits<channel_rule>::created == event_type::channel_rule_created);
static_assert(kind_traits<account_settings>::updated == event_type::account_settings_updated);

// Every kind, in entity_kind order: generic code (the fold, snapshots, the audit view)
// runs over this list.
template <class... Ts>
struct kind_list {
  static constexpr std::size_t size = sizeof...(Ts);
  using tuple = std::tuple<Ts...>;
};
using rule_kinds =
    kind_list<passthrough_referrer, referrer_mapping, channel_rule, account_settings>;

template <class T, class... Ts>
constexpr bool one_of_kinds(kind_list<Ts...>) {
  return (std::same_as<T, Ts> || ...);
}
template <class T>
concept rule_kind = one_of_kinds<T>(rule_kinds{});

// Calls f(std::type_identity<T>{}) for every kind T, in order.
template <class F, class... Ts>
void for_each_kind_of(kind_list<Ts...>, F&& f) {
  (f(std::type_identity<Ts>{}), ...);
}
template <class F>
void for_each_kind(F&& f) {
  for_each_kind_of(rule_kinds{}, std::forward<F>(f));
}

// Calls f(std::type_identity<T>{}) for the kind T that is `k` and returns what it returns
// (the last kind's for a value no kind has). `f` returns the same type for every kind.
template <std::size_t I = 0, class F>
decltype(auto) visit_kind(entity_kind k, F&& f) {
  using T = std::tuple_element_t<I, rule_kinds::tuple>;
  if constexpr (I + 1 == rule_kinds::size) {
    return f(std::type_identity<T>{});
  } else {
    if (kind_traits<T>::kind == k) return f(std::type_identity<T>{});
    return visit_kind<I + 1>(k, std::forward<F>(f));
  }
}

// The entity kind of an event type.
entity_kind kind_of(event_type t);

// -- every operation of a rule kind, derived from its field table -------------------------

// The names of the fields a body may set, in table order.
template <rule_kind T>
const std::vector<std::string_view>& body_field_names();

// Validates a create body; the result has id 0 and no timestamps yet.
template <rule_kind T>
result<T> parse_create(const rapidjson::Value& body);

// Validates a patch body (every field optional, the same checks as create).
template <rule_kind T>
result<schema::patch<T>> parse_patch(const rapidjson::Value& body);

// Applies `p` to `v` (normalizing what depends on several fields); returns the names of
// the fields whose value changed (possibly none), or a validation error and `v` unchanged.
// Does not touch timestamps.
template <rule_kind T>
result<std::vector<std::string>> apply_patch(T& v, const schema::patch<T>& p);

// The API JSON: {"id":..,"account_id":..,...,"created_at":..,"updated_at":..}
template <rule_kind T>
void write_json(json_writer& w, std::string_view account_id, const T& value);
template <rule_kind T>
std::string entity_json(std::string_view account_id, const T& value);

// The stored form of an entity (an event's object, a snapshot's entity): format 2, the
// tagged encoding of domain/base/schema.hpp.
template <rule_kind T>
std::string encode_object(const T& value);
// The same, appended to `out` (a snapshot encodes many entities into one buffer).
template <rule_kind T>
void encode_object(const T& value, std::string& out);

// Reads a stored entity of either format (1: the API JSON as it was written; 2: tagged),
// compiling what is derived (a regex). An `internal` error when it does not decode.
template <rule_kind T>
result<T> decode_object(object_format format, std::string_view bytes);

// The stored tag of field `name` of the kind of `t`'s entity (0: no such field), and back.
std::uint8_t field_tag(event_type t, std::string_view name);
std::string_view field_name(event_type t, std::uint8_t tag);

}  // namespace referrald::domain
