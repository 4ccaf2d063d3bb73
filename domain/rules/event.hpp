#pragma once

// Events: the only way rule state changes. An account's state is the fold of its events
// in sequence order (account_state::apply). Events are immutable once written; their
// binary layout lives in store/event_log.cpp, their objects' in domain/base/schema.hpp.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/base/clock.hpp"
#include "domain/base/digest.hpp"
#include "domain/base/json.hpp"
#include "domain/base/result.hpp"

namespace referrald::domain {

// Stored as one byte; the values never change.
enum class event_type : std::uint8_t {
  passthrough_referrer_created = 1,
  passthrough_referrer_updated = 2,
  passthrough_referrer_deleted = 3,
  referrer_mapping_created = 4,
  referrer_mapping_updated = 5,
  referrer_mapping_deleted = 6,
  channel_rule_created = 7,
  channel_rule_updated = 8,
  channel_rule_deleted = 9,
  account_settings_created = 10,  // the first change of an account's settings
  account_settings_updated = 11,
  account_settings_deleted = 12,  // reserved: settings are never deleted
};
inline constexpr std::uint8_t k_last_event_type = 12;

// "passthrough_referrer.created" etc.
std::string_view to_string(event_type t);
std::optional<event_type> event_type_from_byte(std::uint8_t b);

// The entity family an event type belongs to ("passthrough_referrer", "referrer_mapping",
// "channel_rule", "account_settings").
std::string_view entity_name(event_type t);

// How an event's object (and a snapshot's entity) is stored: 1, the API JSON of the
// entity (every event written by release 0.2 and before); 2, the tagged encoding of the
// kind's field table (domain/base/schema.hpp). Both are read forever.
enum class object_format : std::uint8_t { json = 1, tagged = 2 };

struct event {
  std::uint64_t seq = 0;  // 1, 2, 3, ... per account, gap-free
  unix_ms timestamp = 0;  // never decreases within an account
  event_type type = event_type::passthrough_referrer_created;
  std::int64_t key_id = 0;  // API key that caused the change (0: operator tool)
  std::int64_t entity_id = 0;
  object_format format = object_format::tagged;
  std::string object;                // the stored entity after the change (in `format`);
                                     // for *.deleted, the entity as it stood when deleted
  std::vector<std::string> changed;  // for *.updated: the fields whose value changed
  sha256_digest prev_hash{};         // hash of event seq-1 (all zero for seq 1)
  sha256_digest hash{};              // see store/event_log.cpp

  friend bool operator==(const event&, const event&) = default;
};

// {"account_id":..,"seq":..,"timestamp":..,"type":..,"key_id":..,"entity":..,"entity_id":..,"object":{..},
//  "changed":[..],"prev_hash":"hex","hash":"hex"} — the audit view of one event, its object
// in the API's JSON whatever its stored format. An error when the object does not decode.
status write_json(json_writer& w, std::string_view account_id, const event& e);

}  // namespace referrald::domain
