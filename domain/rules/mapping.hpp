#pragma once

// Referrer mappings (shared/seeds/referrer-mappings-api.txt): rules that give visits from
// a recognized referrer host a set of UTMs. This header holds the model, the validation
// of create and patch bodies, pattern normalization, the match of one rule against one
// host, and the JSON shape used by the API and by the event log.
//
// Patterns (SPEC sections 5 and 6): non-regex patterns are normalized like hosts (trim,
// lowercase, scheme, path, userinfo, port, trailing dot, punycode, leading www.); an
// ends_with pattern also loses leading dots, as label boundaries are implied. A regex
// pattern is only trimmed, and compiled (caseless, JIT) when validated; a pattern that
// does not compile is a validation error that quotes PCRE2's message and offset.
// Uniqueness (409) is on the normalized pattern, whatever the match type.

#include <rapidjson/fwd.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/base/clock.hpp"
#include "domain/base/json.hpp"
#include "domain/base/result.hpp"
#include "domain/match/regex.hpp"

namespace referrald::domain {

// Stored as its name; the numeric values order nothing and never change.
enum class match_type : std::uint8_t {
  exact = 1,
  contains = 2,
  starts_with = 3,
  ends_with = 4,
  regex = 5,
};

std::string_view to_string(match_type t);
std::optional<match_type> match_type_from_string(std::string_view s);

struct referrer_mapping {
  std::int64_t id = 0;
  std::string referrer_pattern;  // normalized (see above)
  domain::match_type match_type = match_type::exact;
  std::string utm_source;
  std::string utm_medium = "referral";
  std::string utm_campaign;
  std::string utm_term;
  std::string utm_content;
  std::string label;
  std::optional<std::string> description;
  std::int64_t priority = 0;
  bool is_active = true;
  unix_ms created_at = 0;
  unix_ms updated_at = 0;
  // For regex mappings: the compiled pattern (shared, immutable). Not part of equality.
  std::shared_ptr<const compiled_regex> regex;

  // True when this rule matches the normalized `host` (a regex stopped by its limits does
  // not match).
  bool matches(std::string_view host) const;

  friend bool operator==(const referrer_mapping& a, const referrer_mapping& b);
};

// A PATCH body: every member present in the body is set. `description` may become null.
// `referrer_pattern` and `match_type` are normalized together with the stored values by
// apply_patch (a pattern's normal form depends on the match type).
struct mapping_patch {
  std::optional<std::string> referrer_pattern;  // trimmed, not yet normalized
  std::optional<domain::match_type> match_type;
  std::optional<std::string> utm_source;
  std::optional<std::string> utm_medium;
  std::optional<std::string> utm_campaign;
  std::optional<std::string> utm_term;
  std::optional<std::string> utm_content;
  std::optional<std::string> label;
  std::optional<std::optional<std::string>> description;
  std::optional<std::int64_t> priority;
  std::optional<bool> is_active;
};

// The normal form of a pattern for a match type; for regex, the compiled pattern too.
struct normalized_pattern {
  std::string pattern;
  std::shared_ptr<const compiled_regex> regex;
};
result<normalized_pattern> normalize_pattern(std::string_view raw, match_type type);

// Validates a create body; the result has id 0 and no timestamps yet.
result<referrer_mapping> parse_mapping_create(const rapidjson::Value& body);

// Validates a patch body's fields (all optional, same constraints as create).
result<mapping_patch> parse_mapping_patch(const rapidjson::Value& body);

// Applies `p` to `m`, normalizing (and compiling) the resulting pattern; returns the names
// of the fields whose value changed, or a validation error (the pattern does not fit the
// match type). Does not touch timestamps.
result<std::vector<std::string>> apply_patch(referrer_mapping& m, const mapping_patch& p);

// {"id":..,"account_id":..,"referrer_pattern":..,"match_type":..,...}
void write_json(json_writer& w, std::string_view account_id, const referrer_mapping& m);

// Decodes the JSON written by write_json (folding events); compiles regex patterns.
result<referrer_mapping> mapping_from_json(const rapidjson::Value& v);

}  // namespace referrald::domain
