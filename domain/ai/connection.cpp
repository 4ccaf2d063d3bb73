#include "domain/ai/connection.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace referrald::domain {

namespace {

constexpr char k_crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void random_bytes(unsigned char* out, std::size_t n) {
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = getrandom(out + got, n - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("getrandom failed: ") + std::strerror(errno));
    }
    got += static_cast<std::size_t>(r);
  }
}

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

std::string_view to_string(source_tool t) {
  switch (t) {
    case source_tool::ga4:
      return "ga4";
    case source_tool::adobe:
      return "adobe";
    case source_tool::other:
      return "other";
  }
  return "other";
}

std::optional<source_tool> source_tool_from_string(std::string_view s) {
  if (s == "ga4") return source_tool::ga4;
  if (s == "adobe") return source_tool::adobe;
  if (s == "other") return source_tool::other;
  return std::nullopt;
}

result<connection_request> parse_connection_create(const rapidjson::Value& body) {
  field_reader in(body, {"name", "source_tool"});
  connection_request req;
  auto name = in.required_string("name", 1, 100);
  auto tool = in.required_string("source_tool", 1, 16);
  if (tool && !source_tool_from_string(*tool)) {
    in.fail("source_tool", "must be one of ga4, adobe, other");
  }
  if (auto st = in.finish(); !st) return std::move(st).err();
  req.name = std::move(*name);
  req.source_tool = *source_tool_from_string(*tool);
  return req;
}

namespace {

void write_body(json_writer& w, const connection& c) {
  w.Key("id");
  write_string(w, c.id);
  w.Key("brand_id");
  w.Int64(c.brand_id);
  w.Key("name");
  write_string(w, c.name);
  w.Key("source_tool");
  write_string(w, to_string(c.source_tool));
  w.Key("created_at");
  write_string(w, format_rfc3339(c.created_at));
  if (c.deleted_at) {
    w.Key("deleted_at");
    write_string(w, format_rfc3339(*c.deleted_at));
  }
}

}  // namespace

void write_json(json_writer& w, const connection& c) {
  w.StartObject();
  write_body(w, c);
  w.EndObject();
}

std::string encode_stored_connection(const connection& c) {
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  write_json(w, c);
  return {buf.GetString(), buf.GetSize()};
}

result<connection> decode_stored_connection(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError()) return make_error(errc::internal, "stored connection: not JSON");
  stored_reader in(doc, "connection");
  connection c;
  std::string tool;
  in.string("id", c.id);
  in.integer("brand_id", c.brand_id);
  in.string("name", c.name);
  in.string("source_tool", tool);
  in.timestamp("created_at", c.created_at);
  if (auto st = in.finish(); !st) return std::move(st).err();
  auto t = source_tool_from_string(tool);
  if (!t) return make_error(errc::internal, "stored connection: unknown source_tool " + tool);
  c.source_tool = *t;
  if (doc.HasMember("deleted_at")) {
    stored_reader del(doc, "connection");
    unix_ms at = 0;
    del.timestamp("deleted_at", at);
    if (auto st = del.finish(); !st) return std::move(st).err();
    c.deleted_at = at;
  }
  return c;
}

}  // namespace referrald::domain
