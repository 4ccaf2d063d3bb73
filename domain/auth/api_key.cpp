#include "domain/auth/api_key.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/random.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "domain/base/ids.hpp"

namespace referrald::domain {

namespace {

constexpr std::size_t k_name_max = 100;

std::string_view str(const rapidjson::Value& v) { return {v.GetString(), v.GetStringLength()}; }

bool is_wildcard(const rapidjson::Value& v) { return v.IsString() && str(v) == "*"; }

// Records a problem when validating a request; stored keys are decoded without a reader.
void report(field_reader* in, std::string field, std::string message) {
  if (in != nullptr) in->fail(std::move(field), std::move(message));
}

constexpr std::size_t k_max_grants = 1000;

// accounts: ["*"] or a list of account ids.
void read_accounts(const rapidjson::Value* v, field_reader* in, grants& g) {
  if (v == nullptr) return;
  if (!v->IsArray()) {
    report(in, "accounts", "must be an array of account ids or [\"*\"]");
    return;
  }
  if (v->Size() > k_max_grants) {
    report(in, "accounts", "must list at most " + std::to_string(k_max_grants) + " accounts");
    return;
  }
  for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
    const auto& item = (*v)[i];
    std::string field = "accounts[" + std::to_string(i) + "]";
    if (is_wildcard(item)) {
      if (v->Size() != 1) {
        report(in, field, "\"*\" must be the only entry");
        return;
      }
      g.all_accounts = true;
      return;
    }
    if (!item.IsString() || !is_valid_account_id(str(item))) {
      report(in, field,
             "must be an account id (1-64 chars of a-z, 0-9, _ and -, starting with a "
             "letter or digit) or \"*\"");
      continue;
    }
    g.accounts.emplace_back(str(item));
  }
  g.normalize();
}

// brands: ["*"] or a list of positive integers.
void read_brands(const rapidjson::Value* v, field_reader* in, grants& g) {
  if (v == nullptr) return;
  if (!v->IsArray()) {
    report(in, "brands", "must be an array of brand ids or [\"*\"]");
    return;
  }
  if (v->Size() > k_max_grants) {
    report(in, "brands", "must list at most " + std::to_string(k_max_grants) + " brands");
    return;
  }
  for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
    const auto& item = (*v)[i];
    std::string field = "brands[" + std::to_string(i) + "]";
    if (is_wildcard(item)) {
      if (v->Size() != 1) {
        report(in, field, "\"*\" must be the only entry");
        return;
      }
      g.all_brands = true;
      return;
    }
    auto brand = integral_value(item);
    if (!brand || *brand <= 0) {
      report(in, field, "must be a positive integer brand id or \"*\"");
      continue;
    }
    g.brands.push_back(*brand);
  }
  g.normalize();
}

void write_grants(json_writer& w, const grants& g) {
  w.Key("accounts");
  w.StartArray();
  if (g.all_accounts) {
    w.String("*");
  } else {
    for (const auto& a : g.accounts)
      write_string(w, a);
  }
  w.EndArray();
  w.Key("brands");
  w.StartArray();
  if (g.all_brands) {
    w.String("*");
  } else {
    for (auto b : g.brands)
      w.Int64(b);
  }
  w.EndArray();
}

void write_body(json_writer& w, const api_key& k) {
  w.Key("id");
  w.Int64(k.id);
  w.Key("name");
  write_string(w, k.name);
  w.Key("role");
  write_string(w, to_string(k.role));
  write_grants(w, k.grants);
  w.Key("created_at");
  write_string(w, format_rfc3339(k.created_at));
}

bool hex_to_digest(std::string_view hex, sha256_digest& out) {
  if (hex.size() != 64) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < 32; ++i) {
    int hi = nibble(hex[2 * i]);
    int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

}  // namespace

std::string_view to_string(role r) {
  switch (r) {
    case role::viewer:
      return "viewer";
    case role::editor:
      return "editor";
    case role::admin:
      return "admin";
  }
  return "viewer";
}

std::optional<role> role_from_string(std::string_view s) {
  if (s == "viewer") return role::viewer;
  if (s == "editor") return role::editor;
  if (s == "admin") return role::admin;
  return std::nullopt;
}

bool role_allows(role r, access a) {
  return static_cast<std::uint8_t>(r) >= static_cast<std::uint8_t>(a);
}

bool grants::holds_account(std::string_view account_id) const {
  return all_accounts || std::binary_search(accounts.begin(), accounts.end(), account_id);
}

bool grants::holds_brand(std::int64_t brand_id) const {
  return all_brands || std::binary_search(brands.begin(), brands.end(), brand_id);
}

void grants::normalize() {
  std::sort(accounts.begin(), accounts.end());
  accounts.erase(std::unique(accounts.begin(), accounts.end()), accounts.end());
  std::sort(brands.begin(), brands.end());
  brands.erase(std::unique(brands.begin(), brands.end()), brands.end());
}

bool grants::empty() const {
  return !all_accounts && !all_brands && accounts.empty() && brands.empty();
}

bool grants::covers(const grants& other) const {
  if (!all_accounts) {
    if (other.all_accounts) return false;
    for (const auto& a : other.accounts) {
      if (!holds_account(a)) return false;
    }
  }
  if (!all_brands) {
    if (other.all_brands) return false;
    for (auto b : other.brands) {
      if (!holds_brand(b)) return false;
    }
  }
  return true;
}

result<api_key_request> parse_api_key_create(const rapidjson::Value& body) {
  field_reader in(body, {"name", "role", "accounts", "brands"});
  api_key_request req;
  auto name = in.required_string("name", 1, k_name_max);
  auto role_name = in.required_string("role", 1, 16);
  std::optional<role> r;
  if (role_name) {
    r = role_from_string(*role_name);
    if (!r) in.fail("role", "must be one of viewer, editor, admin");
  }
  if (body.IsObject()) {
    auto acc = body.FindMember("accounts");
    auto br = body.FindMember("brands");
    if (acc == body.MemberEnd())
      in.fail("accounts", "is required (a list of account ids, or [\"*\"])");
    if (br == body.MemberEnd()) in.fail("brands", "is required (a list of brand ids, or [\"*\"])");
    read_accounts(acc == body.MemberEnd() ? nullptr : &acc->value, &in, req.grants);
    read_brands(br == body.MemberEnd() ? nullptr : &br->value, &in, req.grants);
    if (acc != body.MemberEnd() && br != body.MemberEnd() && req.grants.empty()) {
      in.fail("accounts", "a key must hold at least one account or brand");
    }
  }
  if (auto st = in.finish(); !st) return std::move(st).err();
  req.name = std::move(*name);
  req.role = *r;
  return req;
}

void write_json(json_writer& w, const api_key& k, std::string_view secret) {
  w.StartObject();
  write_body(w, k);
  if (k.revoked_at) {
    w.Key("revoked_at");
    write_string(w, format_rfc3339(*k.revoked_at));
  }
  if (!secret.empty()) {
    w.Key("secret");
    write_string(w, secret);
  }
  w.EndObject();
}

std::string encode_stored_key(const api_key& k) {
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  w.StartObject();
  write_body(w, k);
  w.Key("secret_sha256");
  write_string(w, to_hex(k.secret_digest));
  w.Key("revoked_at");
  if (k.revoked_at) {
    write_string(w, format_rfc3339(*k.revoked_at));
  } else {
    w.Null();
  }
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

result<api_key> decode_stored_key(std::string_view json) {
  auto bad = [](const char* what) {
    return make_error(errc::internal, std::string("stored API key: ") + what);
  };
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) return bad("not a JSON object");
  api_key k;
  auto id = doc.FindMember("id");
  auto name = doc.FindMember("name");
  auto role_v = doc.FindMember("role");
  auto created = doc.FindMember("created_at");
  auto digest = doc.FindMember("secret_sha256");
  auto revoked = doc.FindMember("revoked_at");
  auto accounts = doc.FindMember("accounts");
  auto brands = doc.FindMember("brands");
  if (id == doc.MemberEnd() || !id->value.IsInt64() || name == doc.MemberEnd() ||
      !name->value.IsString() || role_v == doc.MemberEnd() || !role_v->value.IsString() ||
      created == doc.MemberEnd() || !created->value.IsString() || digest == doc.MemberEnd() ||
      !digest->value.IsString() || accounts == doc.MemberEnd() || brands == doc.MemberEnd()) {
    return bad("missing fields");
  }
  k.id = id->value.GetInt64();
  k.name = str(name->value);
  auto r = role_from_string(str(role_v->value));
  if (!r) return bad("unknown role");
  k.role = *r;
  auto c = parse_rfc3339(str(created->value));
  if (!c) return bad("unreadable created_at");
  k.created_at = *c;
  if (!hex_to_digest(str(digest->value), k.secret_digest)) return bad("unreadable digest");
  if (revoked != doc.MemberEnd() && revoked->value.IsString()) {
    auto t = parse_rfc3339(str(revoked->value));
    if (!t) return bad("unreadable revoked_at");
    k.revoked_at = *t;
  }
  read_accounts(&accounts->value, nullptr, k.grants);
  read_brands(&brands->value, nullptr, k.grants);
  return k;
}

std::string generate_secret() {
  unsigned char bytes[32];
  std::size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("getrandom failed: ") + std::strerror(errno));
    }
    got += static_cast<std::size_t>(n);
  }
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out = "rk_";
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char b : bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(alphabet[(acc >> bits) & 0x3F]);
    }
  }
  if (bits > 0) out.push_back(alphabet[(acc << (6 - bits)) & 0x3F]);
  return out;
}

std::size_t key_table::digest_hash::operator()(const sha256_digest& d) const {
  std::size_t h;
  std::memcpy(&h, d.data(), sizeof h);
  return h;
}

key_table::key_table(const std::vector<api_key>& keys) {
  for (const auto& k : keys) {
    if (k.active()) by_digest_.emplace(k.secret_digest, k);
  }
}

const api_key* key_table::find_by_secret(std::string_view secret) const {
  return find_by_digest(sha256(secret));
}

const api_key* key_table::find_by_digest(const sha256_digest& digest) const {
  auto it = by_digest_.find(digest);
  return it == by_digest_.end() ? nullptr : &it->second;
}

status check_revocation(const std::vector<api_key>& keys, std::int64_t id) {
  const api_key* target = nullptr;
  std::size_t full_admins = 0;
  for (const auto& k : keys) {
    if (k.id == id) target = &k;
    if (k.is_full_admin()) ++full_admins;
  }
  if (target == nullptr || !target->is_full_admin() || full_admins > 1) return {};
  return make_error(errc::conflict,
                    "API key " + std::to_string(id) +
                        " is the last active admin key with access to every account and brand; "
                        "revoking it would leave no key able to manage the others. Create "
                        "another such key first");
}

}  // namespace referrald::domain
