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
#include <string>
#include <string_view>

#include "domain/digest.hpp"
#include "domain/event.hpp"
#include "domain/passthrough.hpp"
#include "domain/persistent_map.hpp"
#include "domain/result.hpp"

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
  friend bool operator==(const entity_ref& a, const entity_ref& b) {
    return a.p_ == b.p_ || (a.p_ && b.p_ && *a.p_ == *b.p_);
  }

 private:
  std::shared_ptr<const entity<T>> p_;
};

using passthrough_map = persistent_map<std::int64_t, entity_ref<passthrough_referrer>>;

class account_state {
 public:
  explicit account_state(std::string account_id = {});

  const std::string& account_id() const { return account_id_; }

  // The last applied event: its sequence number (0 before any), hash and timestamp.
  std::uint64_t seq() const { return seq_; }
  const sha256_digest& head_hash() const { return head_hash_; }
  unix_ms last_timestamp() const { return last_timestamp_; }

  // Applies the next event. Fails, leaving the state unchanged, when `e.seq` is not
  // seq()+1, `e.prev_hash` is not head_hash(), or the event does not fit the state
  // (unknown entity, duplicate id or domain, undecodable object).
  status apply(const event& e);

  // -- passthrough referrers --------------------------------------------------------
  const passthrough_map& referrers() const { return referrers_; }
  const passthrough_referrer* find_referrer(std::int64_t id) const;
  // The referrer that holds a normalized domain, active or not.
  std::optional<std::int64_t> referrer_with_domain(std::string_view domain) const;
  std::int64_t next_referrer_id() const { return next_referrer_id_; }
  std::size_t active_referrer_count() const { return active_referrers_; }

  friend bool operator==(const account_state&, const account_state&) = default;

 private:
  status apply_passthrough(const event& e);

  std::string account_id_;
  std::uint64_t seq_ = 0;
  sha256_digest head_hash_{};
  unix_ms last_timestamp_ = 0;

  passthrough_map referrers_;
  persistent_map<std::string, std::int64_t> referrer_domains_;
  std::int64_t next_referrer_id_ = 1;
  std::size_t active_referrers_ = 0;
};

// -- the API's views of a state (shared by the actor and the direct read path) ---------

// {"referrers":[...],"total":n,"active_count":m}
std::string passthrough_list_json(const account_state& s, bool include_inactive);

// The referrer's JSON, or not_found.
result<std::string> passthrough_get_json(const account_state& s, std::int64_t id);

}  // namespace referrald::domain
