#pragma once

// A visit's resolution (docs/api-guide.md, "Attribution resolution") and the one
// description of its answer. Each member of the answer is declared once, in the table of
// resolution_fields(): its name, JSON type, schema and the CSV column(s) it fills. The JSON
// writer (append_json), the CSV writer (append_csv_columns), the names of both outputs and
// the answer's JSON Schema (http/openapi.cpp) are all derived from that table.
//
//   {"utm_source":..,"utm_medium":..,"utm_campaign":..,"utm_term":..,"utm_content":..,
//    "reason":..,"rule":{"type":..,"id":..}|null,"referrer_host":..|null,"ai_platform":..|null,
//    "known_referrer":{"source":..,"name":..,"category":..}|null,"click_id":..|null,
//    "channel":..,"channel_rule":{"id":..,"name":..}|null,"warnings":[..]}
//
// Pure; safe from any thread.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "domain/ai/ai_platforms.hpp"
#include "domain/attribution/known_referrers.hpp"
#include "domain/attribution/visit.hpp"
#include "domain/rules/channel_rule.hpp"

namespace referrald::domain {

// Why a visit got its answer: the row of the precedence table that decided
// (resolver.hpp), one of these words.
namespace reasons {
inline constexpr std::string_view utm = "utm";
inline constexpr std::string_view click_id = "click_id";
inline constexpr std::string_view internal = "internal";
inline constexpr std::string_view passthrough_session = "passthrough_session";
inline constexpr std::string_view passthrough_fallback = "passthrough_fallback";
inline constexpr std::string_view mapping = "mapping";
inline constexpr std::string_view ai_platform = "ai_platform";
inline constexpr std::string_view known_referrer = "known_referrer";
inline constexpr std::string_view referral = "referral";
inline constexpr std::string_view direct = "direct";
}  // namespace reasons

// Every reason, in the order of the precedence table.
std::span<const std::string_view> all_reasons();

struct resolution {
  utm_values utms;
  std::string_view reason;     // one of reasons::
  std::string_view rule_type;  // "passthrough" | "mapping" | "" (none)
  std::int64_t rule_id = 0;
  std::string_view referrer_host;  // a view into the visit resolved; empty: no referrer
  const ai_platform* ai = nullptr;
  const known_referrer* known = nullptr;  // the entry that decided (reason known_referrer)
  const click_id* click = nullptr;        // the landing URL's first known click id
  std::string_view channel;               // the channel rule's, or the default group's
  const domain::channel_rule* channel_rule = nullptr;  // the account's rule that gave it
  std::vector<std::string> warnings;                   // the visit's, and the resolution's own
  // The work its regexes did (domain/match/regex.hpp), for a caller that bounds a
  // request's work: not part of the answer.
  std::uint64_t regex_steps = 0;
};

// -- The description ----------------------------------------------------------------

enum class answer_type : std::uint8_t { text, nullable_text, integer, object, text_list };

// One member of the answer. The accessors that apply to its type are set; a nullable one
// (nullable_text, object) is null unless `present`.
struct answer_field {
  std::string_view name = {};
  answer_type type = answer_type::text;
  // JSON Schema keywords beyond the type, as JSON object members ("enum":[...]; a
  // "$ref" replaces the type), and what the member means; either may be empty.
  std::string_view schema = {};
  std::string_view description = {};
  std::span<const std::string_view> choices = {};  // a text's only values (its "enum")
  bool plain = false;  // the text is always a word that JSON needs no escape for
  bool (*present)(const resolution&) = nullptr;
  std::string_view (*text)(const resolution&) = nullptr;
  std::int64_t (*number)(const resolution&) = nullptr;
  const std::vector<std::string>& (*list)(const resolution&) = nullptr;
  std::span<const answer_field> members = {};  // of an object
  // The CSV column this member fills (a text list as its JSON array; empty when null);
  // empty: no column of its own (an object's members name theirs).
  std::string_view column = {};
};

std::span<const answer_field> resolution_fields();

// Appends the resolution as one JSON object, closed. The one writer of answers: single
// and batch resolution, NDJSON, `referralctl attribute`.
void append_json(std::string& out, const resolution& r);
// The same with "explain" (the JSON array resolve() wrote) as its last member.
void append_json(std::string& out, const resolution& r, std::string_view explain);

// Appends the resolution's CSV columns, each after a comma (",utm_source,...,warnings"),
// in the order of csv_columns().
void append_csv_columns(std::string& out, const resolution& r);

// The top-level member names of append_json, and the column names of append_csv_columns,
// in order.
std::span<const std::string_view> json_members();
std::span<const std::string_view> csv_columns();

// The answer's JSON Schema (2020-12) as JSON text: an object with every member required
// and no other, plus the members `extra` names (JSON Schema text of each; not required).
std::string resolution_json_schema(
    std::span<const std::pair<std::string_view, std::string_view>> extra = {});

}  // namespace referrald::domain
