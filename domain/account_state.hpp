#pragma once

// The rule state of one account: nothing but the fold of its events. Owned by exactly
// one account actor at run time (not thread-safe); also built by referralctl and tests.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "domain/digest.hpp"
#include "domain/event.hpp"
#include "domain/passthrough.hpp"
#include "domain/result.hpp"

namespace referrald::domain {

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
  const std::map<std::int64_t, passthrough_referrer>& referrers() const { return referrers_; }
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

  std::map<std::int64_t, passthrough_referrer> referrers_;
  std::unordered_map<std::string, std::int64_t> referrer_domains_;
  std::int64_t next_referrer_id_ = 1;
  std::size_t active_referrers_ = 0;
};

}  // namespace referrald::domain
