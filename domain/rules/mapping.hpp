#pragma once

// Referrer mappings: rules that give visits from a recognized referrer host a set of
// UTMs. This header holds the model and its field table, pattern normalization and the
// match of one rule against one host; parsing, patching, JSON and the stored encoding
// are derived from the table (domain/rules/entities.hpp).
//
// Patterns (docs/api-guide.md, "Passthrough referrers" and "Referrer mappings"): non-regex patterns
// are normalized like hosts (trim, lowercase, scheme, path, userinfo, port, trailing dot, punycode,
// leading www.); an ends_with pattern also loses leading dots, as label boundaries are implied. A
// regex pattern is only trimmed, and compiled (caseless, JIT) when validated; a pattern that does
// not compile is a validation error that quotes PCRE2's message and offset. Uniqueness (409) is on
// the normalized pattern, whatever the match type.

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

namespace referrald::domain {

// Stored as its value (format 2; the position of its name in match_type_names()) or its
// name (format 1); the values order nothing and never change.
enum class match_type : std::uint8_t {
  exact = 1,
  contains = 2,
  starts_with = 3,
  ends_with = 4,
  regex = 5,
};

// "exact", "contains", "starts_with", "ends_with", "regex": the name of value i+1 at i.
std::span<const std::string_view> match_type_names();
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
  // For regex mappings: the compiled pattern (shared, immutable). Not a field: derived
  // from the pattern, and not part of equality.
  std::shared_ptr<const compiled_regex> regex;

  // True when this rule matches the normalized `host` (a regex stopped by its limits does
  // not match).
  bool matches(std::string_view host) const;

  friend bool operator==(const referrer_mapping& a, const referrer_mapping& b);
};

// True when the normalized `host` matches `pattern` (normalized for `type`; `regex` is its
// compiled form for regex). Mappings and channel rules match referrer hosts alike.
bool host_matches_pattern(std::string_view host, std::string_view pattern, match_type type,
                          const compiled_regex* regex);

// The normal form of a pattern for a match type; for regex, the compiled pattern too.
struct normalized_pattern {
  std::string pattern;
  std::shared_ptr<const compiled_regex> regex;
};
result<normalized_pattern> normalize_pattern(std::string_view raw, match_type type);

// The referrer mapping's fields (domain/base/schema.hpp): the one definition of its API
// shape, validation and stored encoding. The pattern's normal form depends on the match
// type, so the kind normalizes the two together (mapping_normalize).
std::span<const schema::field<referrer_mapping>> mapping_fields();

// Normalizes (and for regex compiles) `m`'s pattern for its match type; the error names
// referrer_pattern.
status mapping_normalize(referrer_mapping& m);

}  // namespace referrald::domain
