#pragma once

// Bulk import and export of an account's rules of one kind.
//
// An import is a list of rules, each a create body (the API field names; fields left out
// take their defaults), given as JSON ({"mode":..,"validate_only":..,"<list name>":[..]})
// or CSV (a header row of field names). It is all or nothing: every row is validated
// first, and one bad row (or a normalized domain/pattern given twice) fails the whole
// import with a 400 naming `<list name>[i].<field>`. Then, against the account's rules:
//   create   every row is a new rule; a row whose domain/pattern exists is a 409
//   upsert   a row whose normalized domain/pattern exists replaces that rule's fields
//            (keeping its id and created_at), the others are created
//   replace  as upsert, and every rule of the kind not in the file is deleted
// A row equal to its rule counts as unchanged and writes nothing. The changes are written
// as one event per changed rule, in one atomic, durable write.
//
// An export is the same shape: the rules as rows of body fields (no ids, no timestamps),
// in id order, so that importing an export gives the same rules.

#include <rapidjson/fwd.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/base/result.hpp"
#include "domain/rules/account_state.hpp"
#include "domain/rules/entities.hpp"

namespace referrald::domain {

enum class import_mode : std::uint8_t { create, upsert, replace };
std::optional<import_mode> import_mode_from_string(std::string_view s);
std::string_view to_string(import_mode m);

// At most this many rows in one import.
inline constexpr std::size_t k_import_max_rows = 10000;

template <class T>
struct import_request {
  import_mode mode = import_mode::create;
  bool validate_only = false;
  std::vector<T> rows;  // validated and normalized, distinct keys
};

// Reads a JSON import body: {"mode": "create"|"upsert"|"replace" (default create),
// "validate_only": bool (default false), "<list name>": [create bodies, 1-10,000]}.
template <rule_kind T>
result<import_request<T>> parse_import_json(const rapidjson::Value& body);

// parse_import_json in three steps, so that the rows can be checked on several threads:
// read the envelope, check each row (parse_create, any thread, any order), then collect
// the checked rows in order (which also refuses repeated keys).
struct import_envelope {
  import_mode mode = import_mode::create;
  bool validate_only = false;
  std::vector<const rapidjson::Value*> rows;  // the rule bodies, not yet checked
  std::vector<field_error> problems;          // with the envelope itself
};
template <rule_kind T>
import_envelope read_import_envelope(const rapidjson::Value& body);
template <rule_kind T>
result<import_request<T>> collect_import_rows(import_envelope envelope,
                                              std::vector<result<T>> checked);

// Reads CSV rows (RFC 4180; a header row of body field names, any subset in any order;
// an empty cell of a nullable field is null). Mode (no rows are taken for replace only) and
// validate_only come from the caller.
template <rule_kind T>
result<std::vector<T>> parse_import_csv(std::string_view text, import_mode mode);

// What an import changes in `s`.
template <class T>
struct import_plan {
  std::vector<T> creates;  // ids and timestamps not assigned yet
  struct update {
    T value;  // the new value, id and created_at kept
    std::vector<std::string> changed;
  };
  std::vector<update> updates;
  std::vector<std::int64_t> deletes;  // ids, ascending
  std::size_t unchanged = 0;
};

// Plans `req` against `s`: a conflict error (naming each row) when mode create meets
// existing rules. The rows of `req` are moved into the plan (not copied: an import is
// up to 10,000 of them).
template <rule_kind T>
result<import_plan<T>> plan_import(const account_state& s, import_request<T>& req);

// {"mode":..,"validate_only":..,"created":n,"updated":n,"deleted":n,"unchanged":n}
template <class T>
std::string import_summary_json(const import_request<T>& req, const import_plan<T>& plan);

// The rules of `s` of kind T (only active ones unless `include_inactive`) as an import
// body: {"<list name>":[{body fields}...]} / a CSV with a header of every body field.
template <rule_kind T>
std::string export_json(const account_state& s, bool include_inactive);
template <rule_kind T>
std::string export_csv(const account_state& s, bool include_inactive);

}  // namespace referrald::domain
