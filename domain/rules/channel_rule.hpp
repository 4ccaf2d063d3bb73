#pragma once

// Channel rules: an account's own channel group. Each rule names a channel and the
// conditions a visit's final answer must meet for it (every condition given must hold);
// active rules are tried by priority (highest first, then lowest id), the first match
// gives the channel, and the default channel group (domain/attribution/channels.hpp)
// answers when none matches (docs/attribution.md, "Channels"). This header holds the model, its
// field table and the match; parsing, patching, JSON and the stored encoding are derived from the
// table (domain/rules/entities.hpp).

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "domain/base/clock.hpp"
#include "domain/base/result.hpp"
#include "domain/base/schema.hpp"
#include "domain/match/regex.hpp"
#include "domain/rules/mapping.hpp"

namespace referrald::domain {

// Whether the landing URL must carry a known click id. Stored as its value; never renumbered.
enum class click_condition : std::uint8_t { any = 1, present = 2, absent = 3 };
std::string_view to_string(click_condition c);

// What a channel rule is matched against: the resolution's final answer and the visit.
struct channel_facts {
  std::string_view source, medium, campaign;  // the final utm_* values
  std::string_view referrer_host;             // normalized; empty: no referrer
  bool click_id = false;                      // the landing URL carries a known click id
  std::string_view landing_path;              // the landing URL's path ("/" at least)
};

struct channel_rule {
  std::int64_t id = 0;
  std::string name;                     // unique in the account
  std::string channel;                  // the channel a match gives
  std::vector<std::string> utm_source;  // lowercase; the final value must be one of them
  std::vector<std::string> utm_medium;
  std::vector<std::string> utm_campaign;
  std::optional<std::string> referrer_pattern;  // normalized for match_type, as a mapping's
  domain::match_type match_type = match_type::exact;
  click_condition click_id = click_condition::any;
  std::optional<std::string> landing_path_prefix;
  std::int64_t priority = 0;
  std::optional<std::string> description;
  bool is_active = true;
  unix_ms created_at = 0;
  unix_ms updated_at = 0;
  // For a regex referrer_pattern: the compiled pattern (derived, not compared).
  std::shared_ptr<const compiled_regex> regex;

  // True when every condition the rule has holds for `f`. A regex referrer condition is
  // matched within `budget` (a visit's; a match stopped by a limit, or not tried, does not
  // match) when one is given.
  bool matches(const channel_facts& f, regex_budget* budget = nullptr) const;

  friend bool operator==(const channel_rule& a, const channel_rule& b);
};

std::span<const schema::field<channel_rule>> channel_rule_fields();

// Normalizes (and for regex compiles) the rule's referrer pattern for its match type, and
// checks that the rule has at least one condition; the error names the field.
status channel_rule_normalize(channel_rule& r);

}  // namespace referrald::domain
