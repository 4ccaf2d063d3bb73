#pragma once

// The rule kinds an account holds, and what generic code needs to know about each:
// its event types, its names in the API, its unique key, and how it is validated,
// patched, written and read. Adding a kind means adding a kind_traits specialization.

#include <rapidjson/fwd.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "domain/base/json.hpp"
#include "domain/base/result.hpp"
#include "domain/rules/event.hpp"
#include "domain/rules/mapping.hpp"
#include "domain/rules/passthrough.hpp"

namespace referrald::domain {

// A stored entity together with its API JSON (the object of the event that produced it).
template <class T>
struct entity {
  T value;
  std::string json;

  friend bool operator==(const entity&, const entity&) = default;
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
entity_ref<T> make_entity(T value, std::string json) {
  return entity_ref<T>(
      std::make_shared<const entity<T>>(entity<T>{std::move(value), std::move(json)}));
}

template <class T>
struct kind_traits;

template <>
struct kind_traits<passthrough_referrer> {
  using patch_type = passthrough_patch;
  static constexpr event_type created = event_type::passthrough_referrer_created;
  static constexpr event_type updated = event_type::passthrough_referrer_updated;
  static constexpr event_type deleted = event_type::passthrough_referrer_deleted;
  static constexpr std::string_view noun = "passthrough referrer";
  static constexpr std::string_view list_name = "referrers";
  static constexpr std::string_view key_field = "domain";

  static const std::string& key(const passthrough_referrer& r) { return r.domain; }
  static result<passthrough_referrer> parse_create(const rapidjson::Value& v) {
    return parse_passthrough_create(v);
  }
  static result<passthrough_patch> parse_patch(const rapidjson::Value& v) {
    return parse_passthrough_patch(v);
  }
  static result<std::vector<std::string>> patch(passthrough_referrer& r,
                                                const passthrough_patch& p) {
    return apply_patch(r, p);
  }
  static result<passthrough_referrer> from_json(const rapidjson::Value& v) {
    return passthrough_from_json(v);
  }
};

template <>
struct kind_traits<referrer_mapping> {
  using patch_type = mapping_patch;
  static constexpr event_type created = event_type::referrer_mapping_created;
  static constexpr event_type updated = event_type::referrer_mapping_updated;
  static constexpr event_type deleted = event_type::referrer_mapping_deleted;
  static constexpr std::string_view noun = "referrer mapping";
  static constexpr std::string_view list_name = "mappings";
  static constexpr std::string_view key_field = "referrer_pattern";

  static const std::string& key(const referrer_mapping& m) { return m.referrer_pattern; }
  static result<referrer_mapping> parse_create(const rapidjson::Value& v) {
    return parse_mapping_create(v);
  }
  static result<mapping_patch> parse_patch(const rapidjson::Value& v) {
    return parse_mapping_patch(v);
  }
  static result<std::vector<std::string>> patch(referrer_mapping& m, const mapping_patch& p) {
    return apply_patch(m, p);
  }
  static result<referrer_mapping> from_json(const rapidjson::Value& v) {
    return mapping_from_json(v);
  }
};

// The API JSON of an entity.
template <class T>
std::string entity_json(std::string_view account_id, const T& value);

}  // namespace referrald::domain
