#pragma once

// AI-referral connections (docs/api-guide.md, "AI referrals"): a source of pushed AI-referral rows
// for one brand, identified by a ULID. Connection ids are never reused; a deleted connection
// refuses pushes (404) but the rows it delivered stay.

#include <rapidjson/fwd.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "domain/base/clock.hpp"
#include "domain/base/json.hpp"
#include "domain/base/result.hpp"
#include "domain/base/schema.hpp"

namespace referrald::domain {

// A ULID: 48-bit millisecond timestamp and 80 random bits, written as 26 characters of
// Crockford base32 (uppercase).
std::string new_ulid(unix_ms now);

// Makes ULIDs that sort in the order they were made (the monotonic variant of the ULID
// spec): within one millisecond, or when the clock goes back, the next id is the last
// one plus one. Not thread-safe: one owner at a time.
class ulid_generator {
 public:
  std::string next(unix_ms now);
  // Makes every later id greater than `ulid` (an id made earlier, e.g. before a restart).
  void observe(std::string_view ulid);

 private:
  std::array<unsigned char, 16> last_{};
  bool has_last_ = false;
};

// The canonical (uppercase) form of a ULID given in any case, or nullopt when `s` is not
// one (26 characters of Crockford base32, first character 0-7).
std::optional<std::string> parse_ulid(std::string_view s);

enum class source_tool : std::uint8_t { ga4 = 1, adobe = 2, other = 3 };
std::string_view to_string(source_tool t);
std::optional<source_tool> source_tool_from_string(std::string_view s);

struct connection {
  std::string id;  // ULID
  std::int64_t brand_id = 0;
  std::string name;
  domain::source_tool source_tool = source_tool::other;
  unix_ms created_at = 0;
  std::optional<unix_ms> deleted_at;

  bool active() const { return !deleted_at.has_value(); }
  friend bool operator==(const connection&, const connection&) = default;
};

// The connection's fields (domain/base/schema.hpp): its API shape, validation and stored
// encoding.
std::span<const schema::field<connection>> connection_fields();

// A validated POST body: {name, source_tool}.
struct connection_request {
  std::string name;
  domain::source_tool source_tool = source_tool::other;
};
result<connection_request> parse_connection_create(const rapidjson::Value& body);

// {"id","brand_id","name","source_tool","created_at"} (+ "deleted_at" when deleted).
void write_json(json_writer& w, const connection& c);
// The stored form: the tagged encoding of the field table; `tagged` false reads the JSON
// that release 0.2 stored.
std::string encode_stored_connection(const connection& c);
result<connection> decode_stored_connection(std::string_view stored, bool tagged);

}  // namespace referrald::domain
