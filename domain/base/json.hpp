#pragma once

// JSON plumbing shared by every model: the writer type used for all output, and
// `field_reader`, which validates one request object against the fields a route accepts
// and collects every problem (unknown or read-only fields, wrong types, lengths, ranges)
// into one validation error that names each field (docs/api-guide.md, "Conventions").

#include <rapidjson/fwd.h>

// Debian's RapidJSON 1.1.0 scans strings 16 bytes at a time under RAPIDJSON_SSE2 or
// RAPIDJSON_SSE42 with a bound of 0x19 instead of 0x1F: its writer then copies U+001A-U+001F
// into a string unescaped (invalid JSON) and its reader accepts them raw. Never enable it.
#if defined(RAPIDJSON_SSE2) || defined(RAPIDJSON_SSE42) || defined(RAPIDJSON_NEON)
#error "RapidJSON's SIMD string scanning mishandles U+001A-U+001F; build without it"
#endif

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "domain/base/result.hpp"

namespace referrald::domain {

using json_writer = rapidjson::Writer<rapidjson::StringBuffer, rapidjson::UTF8<char>,
                                      rapidjson::UTF8<char>, rapidjson::CrtAllocator, 0>;

// Compiled-in data files (AI platforms, known referrers): the array of strings under `key`
// of `obj` appended to `out` (lowercased when `lower`); false when it is missing or holds
// anything but strings. write_string_list writes `"key":[...]`.
bool read_string_list(const rapidjson::Value& obj, const char* key, std::vector<std::string>& out,
                      bool lower = true);
void write_string_list(json_writer& w, const char* key, const std::vector<std::string>& items);

// Fields no request body may set: the server owns them.
inline constexpr std::string_view k_read_only_fields[] = {"id", "account_id", "created_at",
                                                          "updated_at"};

// The problems one error lists at most, however many the body has.
inline constexpr std::size_t max_error_details = 100;

class field_reader {
 public:
  // `body` must outlive the reader. `fields` are the names the body may carry; anything
  // else is reported as unknown, read-only names as read-only, and a repeated key as such.
  // With `others_allowed`, the body is a record that carries these fields among others of
  // its own (a line of a visit log): other names are not looked at, however many.
  field_reader(const rapidjson::Value& body, std::initializer_list<std::string_view> fields,
               bool others_allowed = false)
      : field_reader(body, std::span<const std::string_view>(fields.begin(), fields.size()),
                     others_allowed) {}
  field_reader(const rapidjson::Value& body, std::span<const std::string_view> fields,
               bool others_allowed = false);

  bool has(std::string_view name) const;
  // The member called `name`, or null.
  const rapidjson::Value* value(std::string_view name) const;

  // String fields: trimmed; length in code points must lie in [min, max].
  // `required_string` reports a missing field; `optional_string` returns nullopt for it.
  std::optional<std::string> required_string(std::string_view name, std::size_t min,
                                             std::size_t max);
  std::optional<std::string> optional_string(std::string_view name, std::size_t min,
                                             std::size_t max);
  // Absent → nullopt; null → optional holding nullopt.
  std::optional<std::optional<std::string>> optional_nullable_string(std::string_view name,
                                                                     std::size_t max);
  std::optional<bool> optional_bool(std::string_view name);
  std::optional<std::int64_t> optional_int(std::string_view name, std::int64_t min,
                                           std::int64_t max);

  // Records a problem found by the caller's own checks.
  void fail(std::string field, std::string message);

  // ok() when nothing was recorded; else a validation_failed error with a detail for each
  // of the first max_error_details problems (and one more saying how many were not
  // listed), and a message of about 1,000 bytes at most that names the first of them.
  status finish() const;

 private:
  std::optional<std::string> string_value(std::string_view name, const rapidjson::Value& v,
                                          std::size_t min, std::size_t max);

  const rapidjson::Value* body_;
  std::vector<field_error> errors_;  // the first max_error_details problems
  std::size_t more_ = 0;             // problems past those
};

// Reads back an object this program wrote (a stored entity): every field must be there
// with its type; the first problem is kept and reported by finish() as `internal`.
class stored_reader {
 public:
  stored_reader(const rapidjson::Value& v, std::string what);

  void string(const char* key, std::string& out);
  void nullable_string(const char* key, std::optional<std::string>& out);
  void integer(const char* key, std::int64_t& out);
  void boolean(const char* key, bool& out);
  void timestamp(const char* key, std::int64_t& out);  // RFC 3339 -> unix ms

  status finish() const;

 private:
  const rapidjson::Value* member(const char* key);

  const rapidjson::Value* v_;
  std::string what_;
  std::string problem_;
};

// A JSON number with an integral value that fits int64 (1, 1.0, 1e2 — exporters such as
// pandas and Excel write whole numbers as decimals), or nullopt (1.5, 1e300, "1", ...).
std::optional<std::int64_t> integral_value(const rapidjson::Value& v);

// "null", "a boolean", "a string", "a number", "an array" or "an object", for messages.
std::string json_type_name(const rapidjson::Value& v);

// Parses `text` as a JSON document (UTF-8 validated); on failure the error is
// invalid_json and its message carries RapidJSON's reason and the byte offset.
// `doc` receives the parsed value. `what` names the text in the error: "body" (the detail's
// field), or "line" for a line of NDJSON (the item itself: a detail with no field), which
// may not start with a byte order mark (the caller skips one at the start of the body).
status parse_json(std::string_view text, rapidjson::Document& doc, std::string_view what = "body");
// The same, decoding strings inside `text` itself (faster for large bodies); the
// document points into `text`, which must outlive it and is modified.
status parse_json_insitu(std::string& text, rapidjson::Document& doc);

// Appends the canonical text of `v` to `out`: object members sorted by name (bytewise),
// no whitespace, strings escaped one way, numbers with an integral value that fits int64
// written as integers (1, 1.0 and 1e0 are all "1"), other numbers with 17 significant
// digits. Two documents that differ only in serialization have the same canonical text.
void append_canonical_json(std::string& out, const rapidjson::Value& v);

// Appends `s` to `out` as a JSON string literal (RFC 8259), quotes included: '"', '\\' and
// every control character U+0000-U+001F escaped, and every byte sequence that is not UTF-8
// replaced by U+FFFD, so that the result is valid JSON whatever `s` holds. The one escaping
// path of the program: write_string and write_key use it, and so do the hand-assembled
// outputs of hot paths and the access log.
void append_json_string(std::string& out, std::string_view s);

// The most bytes a string of `size` bytes takes as a JSON string literal.
constexpr std::size_t json_string_bound(std::size_t size) { return 6 * size + 2; }

// Writes `s` at `p` as append_json_string appends it (at most json_string_bound(s.size())
// bytes), for a hot path that writes into room it made; returns the end of what it wrote.
char* write_json_string(char* p, std::string_view s);

// Writes an optional string as a JSON string or null.
void write_nullable(json_writer& w, const std::optional<std::string>& s);
void write_string(json_writer& w, std::string_view s);
void write_key(json_writer& w, std::string_view key);

}  // namespace referrald::domain
