#include "domain/ai/connection.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <array>
#include <stdexcept>

#include "domain/base/random.hpp"
#include "domain/base/schema_ops.hpp"

namespace referrald::domain {

namespace {

constexpr char k_crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

int crockford_value(char c) {
  if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  // Crockford's aliases: I and L read as 1, O as 0.
  if (c == 'I' || c == 'L') return 1;
  if (c == 'O') return 0;
  for (int i = 0; i < 32; ++i) {
    if (k_crockford[i] == c) return i;
  }
  return -1;
}

}  // namespace

namespace {

using ulid_bytes = std::array<unsigned char, 16>;

ulid_bytes fresh_ulid(unix_ms now) {
  ulid_bytes bytes{};
  auto t = static_cast<std::uint64_t>(now);
  for (int i = 5; i >= 0; --i) {
    bytes[static_cast<std::size_t>(i)] = static_cast<unsigned char>(t & 0xFF);
    t >>= 8;
  }
  random_bytes(bytes.data() + 6, 10);
  return bytes;
}

// 128 bits -> 26 base32 digits: two zero bits are prepended, so that the first digit
// carries the top 3 bits and each following digit the next 5.
std::string encode_ulid(const ulid_bytes& bytes) {
  auto bit = [&](int i) {
    return i < 0 ? 0 : (bytes[static_cast<std::size_t>(i / 8)] >> (7 - i % 8)) & 1;
  };
  std::string out(26, '0');
  for (int d = 0; d < 26; ++d) {
    int v = 0;
    for (int b = d * 5 - 2; b < d * 5 + 3; ++b)
      v = (v << 1) | bit(b);
    out[static_cast<std::size_t>(d)] = k_crockford[v];
  }
  return out;
}

}  // namespace

std::string new_ulid(unix_ms now) { return encode_ulid(fresh_ulid(now)); }

std::string ulid_generator::next(unix_ms now) {
  ulid_bytes candidate = fresh_ulid(now);
  if (has_last_ && candidate <= last_) {
    // Same millisecond (or the clock went back): one more than the last id.
    candidate = last_;
    for (std::size_t i = candidate.size(); i-- > 0;) {
      if (++candidate[i] != 0) break;
    }
  }
  last_ = candidate;
  has_last_ = true;
  return encode_ulid(candidate);
}

void ulid_generator::observe(std::string_view ulid) {
  auto canonical = parse_ulid(ulid);
  if (!canonical) return;
  ulid_bytes bytes{};
  for (std::size_t d = 0; d < 26; ++d) {
    int v = crockford_value((*canonical)[d]);
    for (int b = 4; b >= 0; --b) {
      int bit_index = static_cast<int>(d) * 5 - 2 + (4 - b);
      if (bit_index < 0 || ((v >> b) & 1) == 0) continue;
      bytes[static_cast<std::size_t>(bit_index / 8)] |=
          static_cast<unsigned char>(1u << (7 - bit_index % 8));
    }
  }
  if (!has_last_ || bytes > last_) {
    last_ = bytes;
    has_last_ = true;
  }
}

std::optional<std::string> parse_ulid(std::string_view s) {
  if (s.size() != 26) return std::nullopt;
  std::string out(26, '0');
  for (std::size_t i = 0; i < 26; ++i) {
    int v = crockford_value(s[i]);
    if (v < 0) return std::nullopt;
    if (i == 0 && v > 7) return std::nullopt;  // more than 128 bits
    out[i] = k_crockford[v];
  }
  return out;
}

namespace {

constexpr std::string_view k_source_tool_names[] = {"ga4", "adobe", "other"};

}  // namespace

std::string_view to_string(source_tool t) {
  return schema::choice_name(k_source_tool_names, static_cast<std::size_t>(t), "other");
}

std::optional<source_tool> source_tool_from_string(std::string_view s) {
  auto pos = schema::choice_position(k_source_tool_names, s);
  return pos ? std::optional(static_cast<source_tool>(*pos)) : std::nullopt;
}

std::span<const schema::field<connection>> connection_fields() {
  using schema::field, schema::type, schema::required, schema::server, schema::omit_null;
  using C = connection;
  static const schema::choice_access<C> tool{
      &schema::get_choice<C, domain::source_tool, &C::source_tool>,
      &schema::set_choice<C, domain::source_tool, &C::source_tool>, k_source_tool_names};
  // Tags are stored: never reuse or renumber one.
  static const field<C> fields[] = {
      {"id", 1, type::string, &C::id, server},
      {"brand_id", 2, type::integer, &C::brand_id, server},
      {"name", 3, type::string, &C::name, required, 1, 100},
      {"source_tool", 4, type::choice, tool, required},
      {"created_at", 5, type::timestamp, &C::created_at, server},
      {"deleted_at", 6, type::nullable_timestamp, &C::deleted_at, server | omit_null},
  };
  return fields;
}

result<connection_request> parse_connection_create(const rapidjson::Value& body) {
  static const std::vector<std::string_view> names = schema::body_names(connection_fields());
  field_reader in(body, names);
  connection c;
  schema::read_body(in, connection_fields(), c, true);
  if (auto st = in.finish(); !st) return std::move(st).err();
  return connection_request{std::move(c.name), c.source_tool};
}

void write_json(json_writer& w, const connection& c) {
  schema::write_object(w, connection_fields(), "", c);
}

std::string encode_stored_connection(const connection& c) {
  std::string out;
  schema::encode(connection_fields(), c, out);
  return out;
}

result<connection> decode_stored_connection(std::string_view stored, bool tagged) {
  if (tagged) return schema::decode(connection_fields(), stored, "connection");
  rapidjson::Document doc;
  doc.Parse(stored.data(), stored.size());
  if (doc.HasParseError()) return make_error(errc::internal, "stored connection: not JSON");
  return schema::read_v1(connection_fields(), doc, "connection");
}

}  // namespace referrald::domain
