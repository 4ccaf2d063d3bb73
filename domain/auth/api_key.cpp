#include "domain/auth/api_key.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "domain/base/ids.hpp"
#include "domain/base/random.hpp"
#include "domain/base/schema_ops.hpp"
#include "domain/base/text.hpp"
#include "domain/web/url.hpp"

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

// A grant list: ["*"] (sets `all`) or up to 1,000 items, each read by `item`, which returns
// nullopt for one it refuses (then `item_rule` says what an item must be).
template <class V, class Item>
void read_grant_list(const rapidjson::Value* v, field_reader* in, std::string_view name,
                     std::string_view item_rule, Item item, bool& all, std::vector<V>& out) {
  const std::string list(name);
  if (v == nullptr) return;
  if (!v->IsArray()) {
    report(in, list, "must be an array of " + list.substr(0, list.size() - 1) + " ids or [\"*\"]");
    return;
  }
  if (v->Size() > k_max_grants) {
    report(in, list, "must list at most " + std::to_string(k_max_grants) + " " + list);
    return;
  }
  for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
    const auto& entry = (*v)[i];
    std::string field = list + "[" + std::to_string(i) + "]";
    if (is_wildcard(entry)) {
      if (v->Size() != 1) {
        report(in, field, "\"*\" must be the only entry");
        return;
      }
      all = true;
      return;
    }
    std::optional<V> value = item(entry);
    if (!value) {
      report(in, field, std::string(item_rule));
      continue;
    }
    out.push_back(std::move(*value));
  }
}

// accounts: ["*"] or a list of account ids.
void read_accounts(const rapidjson::Value* v, field_reader* in, grants& g) {
  read_grant_list<std::string>(
      v, in, "accounts",
      "must be an account id (1-64 chars of a-z, 0-9, _ and -, starting with a letter or digit) "
      "or \"*\"",
      [](const rapidjson::Value& item) -> std::optional<std::string> {
        if (!item.IsString() || !is_valid_account_id(str(item))) return std::nullopt;
        return std::string(str(item));
      },
      g.all_accounts, g.accounts);
  g.normalize();
}

// brands: ["*"] or a list of positive integers.
void read_brands(const rapidjson::Value* v, field_reader* in, grants& g) {
  read_grant_list<std::int64_t>(
      v, in, "brands", "must be a positive integer brand id or \"*\"",
      [](const rapidjson::Value& item) -> std::optional<std::int64_t> {
        auto brand = integral_value(item);
        if (!brand || *brand <= 0) return std::nullopt;
        return brand;
      },
      g.all_brands, g.brands);
  g.normalize();
}

void write_accounts_of(json_writer& w, const api_key& k) {
  const grants& g = k.grants;
  w.StartArray();
  if (g.all_accounts) {
    w.String("*");
  } else {
    for (const auto& a : g.accounts)
      write_string(w, a);
  }
  w.EndArray();
}

void write_brands_of(json_writer& w, const api_key& k) {
  const grants& g = k.grants;
  w.StartArray();
  if (g.all_brands) {
    w.String("*");
  } else {
    for (auto b : g.brands)
      w.Int64(b);
  }
  w.EndArray();
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

// The custom fields of the key's table. Stored (format 2):
//
//   accounts := 0x01                            (["*"], every account)
//             | 0x00 count:varint account:lpstr*  (sorted, distinct)
//   brands   := 0x01 | 0x00 count:varint brand:zigzag-varint*
//   secret_sha256 := digest:32 bytes
//
// Format 1 (release 0.2) stored the API JSON plus "secret_sha256" as 64 lowercase hex
// digits.
namespace key_field {

std::uint64_t zigzag(std::int64_t x) {
  return (static_cast<std::uint64_t>(x) << 1) ^ static_cast<std::uint64_t>(x >> 63);
}
std::int64_t unzigzag(std::uint64_t z) {
  return static_cast<std::int64_t>(z >> 1) ^ -static_cast<std::int64_t>(z & 1);
}

bool read_accounts_field(const rapidjson::Value* v, api_key& k, field_reader* in) {
  if (v == nullptr) {
    report(in, "accounts", "is required (a list of account ids, or [\"*\"])");
    return false;
  }
  read_accounts(v, in, k.grants);
  return v->IsArray();
}
bool read_brands_field(const rapidjson::Value* v, api_key& k, field_reader* in) {
  if (v == nullptr) {
    report(in, "brands", "is required (a list of brand ids, or [\"*\"])");
    return false;
  }
  read_brands(v, in, k.grants);
  return v->IsArray();
}
void encode_accounts(const api_key& k, std::string& out) {
  out.push_back(k.grants.all_accounts ? '\x01' : '\x00');
  if (k.grants.all_accounts) return;
  codec::put_varint(out, k.grants.accounts.size());
  for (const auto& a : k.grants.accounts)
    codec::put_lpstr(out, a);
}
bool decode_accounts(codec::reader& in, api_key& k) {
  std::uint8_t all = 0;
  if (!in.u8(all) || all > 1) return false;
  k.grants.all_accounts = all == 1;
  if (all == 1) return true;
  std::uint64_t n = 0;
  if (!in.varint(n) || n > in.remaining()) return false;
  k.grants.accounts.resize(n);
  for (auto& a : k.grants.accounts)
    if (!in.lpstr(a)) return false;
  return true;
}
void encode_brands(const api_key& k, std::string& out) {
  out.push_back(k.grants.all_brands ? '\x01' : '\x00');
  if (k.grants.all_brands) return;
  codec::put_varint(out, k.grants.brands.size());
  for (auto b : k.grants.brands)
    codec::put_varint(out, zigzag(b));
}
bool decode_brands(codec::reader& in, api_key& k) {
  std::uint8_t all = 0;
  if (!in.u8(all) || all > 1) return false;
  k.grants.all_brands = all == 1;
  if (all == 1) return true;
  std::uint64_t n = 0;
  if (!in.varint(n) || n > in.remaining()) return false;
  k.grants.brands.resize(n);
  for (auto& b : k.grants.brands) {
    std::uint64_t z = 0;
    if (!in.varint(z)) return false;
    b = unzigzag(z);
  }
  return true;
}
bool same_accounts(const api_key& a, const api_key& b) {
  return a.grants.all_accounts == b.grants.all_accounts && a.grants.accounts == b.grants.accounts;
}
bool same_brands(const api_key& a, const api_key& b) {
  return a.grants.all_brands == b.grants.all_brands && a.grants.brands == b.grants.brands;
}
void copy_accounts(const api_key& from, api_key& to) {
  to.grants.all_accounts = from.grants.all_accounts;
  to.grants.accounts = from.grants.accounts;
}
void copy_brands(const api_key& from, api_key& to) {
  to.grants.all_brands = from.grants.all_brands;
  to.grants.brands = from.grants.brands;
}

// The digest is server-owned and hidden: only format 1's stored JSON is ever read.
bool read_digest(const rapidjson::Value* v, api_key& k, field_reader* in) {
  return in == nullptr && v != nullptr && v->IsString() && hex_to_digest(str(*v), k.secret_digest);
}
void write_digest(json_writer& w, const api_key& k) { write_string(w, to_hex(k.secret_digest)); }
void encode_digest(const api_key& k, std::string& out) {
  out.append(reinterpret_cast<const char*>(k.secret_digest.data()), k.secret_digest.size());
}
bool decode_digest(codec::reader& in, api_key& k) {
  std::string_view b;
  if (!in.bytes(k.secret_digest.size(), b)) return false;
  std::memcpy(k.secret_digest.data(), b.data(), b.size());
  return true;
}
bool same_digest(const api_key& a, const api_key& b) { return a.secret_digest == b.secret_digest; }
void copy_digest(const api_key& from, api_key& to) { to.secret_digest = from.secret_digest; }

// The previous secret's digest (after a rotation): stored, never shown, never read from a
// body.  := 0x00 | 0x01 digest:32 bytes
bool read_previous(const rapidjson::Value*, api_key&, field_reader*) { return false; }
void write_previous(json_writer& w, const api_key&) { w.Null(); }
void encode_previous(const api_key& k, std::string& out) {
  out.push_back(k.previous_digest ? '\x01' : '\x00');
  if (k.previous_digest)
    out.append(reinterpret_cast<const char*>(k.previous_digest->data()), k.previous_digest->size());
}
bool decode_previous(codec::reader& in, api_key& k) {
  std::uint8_t has = 0;
  if (!in.u8(has) || has > 1) return false;
  if (has == 0) {
    k.previous_digest.reset();
    return true;
  }
  std::string_view b;
  if (!in.bytes(32, b)) return false;
  k.previous_digest.emplace();
  std::memcpy(k.previous_digest->data(), b.data(), b.size());
  return true;
}
bool same_previous(const api_key& a, const api_key& b) {
  return a.previous_digest == b.previous_digest;
}
void copy_previous(const api_key& from, api_key& to) { to.previous_digest = from.previous_digest; }

// expires_at: an RFC 3339 time, or null (never); in the future when given in a request
// (checked by the parse functions, at the caller's clock).  := 0x00 | 0x01 ms:zigzag-varint
bool read_expiry(const rapidjson::Value* v, api_key& k, field_reader* in) {
  if (v == nullptr) return false;
  if (v->IsNull()) {
    k.expires_at.reset();
    return true;
  }
  auto t = v->IsString() ? parse_rfc3339(str(*v)) : std::nullopt;
  if (!t) {
    report(in, "expires_at", "must be an RFC 3339 date-time such as 2027-01-01T00:00:00Z, or null");
    return false;
  }
  k.expires_at = *t;
  return true;
}
void write_expiry(json_writer& w, const api_key& k) {
  if (k.expires_at) {
    write_string(w, format_rfc3339(*k.expires_at));
  } else {
    w.Null();
  }
}
void encode_expiry(const api_key& k, std::string& out) {
  out.push_back(k.expires_at ? '\x01' : '\x00');
  if (k.expires_at) codec::put_varint(out, zigzag(*k.expires_at));
}
bool decode_expiry(codec::reader& in, api_key& k) {
  std::uint8_t has = 0;
  if (!in.u8(has) || has > 1) return false;
  if (has == 0) {
    k.expires_at.reset();
    return true;
  }
  std::uint64_t z = 0;
  if (!in.varint(z)) return false;
  k.expires_at = unzigzag(z);
  return true;
}
bool same_expiry(const api_key& a, const api_key& b) { return a.expires_at == b.expires_at; }
void copy_expiry(const api_key& from, api_key& to) { to.expires_at = from.expires_at; }

// allowed_origins: a publishable key's web origins.  := count:varint origin:lpstr*
bool read_origins(const rapidjson::Value* v, api_key& k, field_reader* in) {
  if (v == nullptr) return false;
  if (!v->IsArray()) {
    report(in, "allowed_origins",
           "must be an array of web origins such as \"https://shop.example\"");
    return false;
  }
  if (v->Size() > k_max_allowed_origins) {
    report(in, "allowed_origins",
           "must list at most " + std::to_string(k_max_allowed_origins) + " origins");
    return false;
  }
  k.allowed_origins.clear();
  bool ok = true;
  for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
    const auto& item = (*v)[i];
    std::string field = "allowed_origins[" + std::to_string(i) + "]";
    if (!item.IsString()) {
      report(in, field, "must be a string: a web origin such as \"https://shop.example\"");
      ok = false;
      continue;
    }
    auto origin = normalize_origin(str(item));
    if (!origin) {
      report(in, field, origin.err().message);
      ok = false;
      continue;
    }
    k.allowed_origins.push_back(std::move(*origin));
  }
  std::sort(k.allowed_origins.begin(), k.allowed_origins.end());
  k.allowed_origins.erase(std::unique(k.allowed_origins.begin(), k.allowed_origins.end()),
                          k.allowed_origins.end());
  return ok;
}
void write_origins(json_writer& w, const api_key& k) {
  w.StartArray();
  for (const auto& o : k.allowed_origins)
    write_string(w, o);
  w.EndArray();
}
void encode_origins(const api_key& k, std::string& out) {
  codec::put_varint(out, k.allowed_origins.size());
  for (const auto& o : k.allowed_origins)
    codec::put_lpstr(out, o);
}
bool decode_origins(codec::reader& in, api_key& k) {
  std::uint64_t n = 0;
  if (!in.varint(n) || n > in.remaining()) return false;
  k.allowed_origins.resize(n);
  for (auto& o : k.allowed_origins)
    if (!in.lpstr(o)) return false;
  return true;
}
bool same_origins(const api_key& a, const api_key& b) {
  return a.allowed_origins == b.allowed_origins;
}
void copy_origins(const api_key& from, api_key& to) { to.allowed_origins = from.allowed_origins; }

}  // namespace key_field

constexpr std::string_view k_role_names[] = {"viewer", "editor", "admin", "publishable"};

}  // namespace

std::string_view to_string(role r) {
  return schema::choice_name(k_role_names, static_cast<std::size_t>(r), "viewer");
}

std::optional<role> role_from_string(std::string_view s) {
  auto pos = schema::choice_position(k_role_names, s);
  return pos ? std::optional(static_cast<role>(*pos)) : std::nullopt;
}

std::span<const schema::field<api_key>> api_key_fields() {
  using schema::field, schema::type, schema::required, schema::server, schema::omit_null,
      schema::hidden, schema::since_v2;
  using K = api_key;
  using namespace key_field;
  static const schema::choice_access<K> role_access{&schema::get_choice<K, domain::role, &K::role>,
                                                    &schema::set_choice<K, domain::role, &K::role>,
                                                    k_role_names};
  static const schema::custom_access<K> accounts{
      &read_accounts_field,
      &write_accounts_of,
      &encode_accounts,
      &decode_accounts,
      &same_accounts,
      &copy_accounts,
      R"({"type":"array","maxItems":1000,"items":{"type":"string","pattern":"^(\\*|[a-z0-9][a-z0-9_-]{0,63})$"},"description":"account ids, or the one item * for every account"})"};
  static const schema::custom_access<K> brands{
      &read_brands_field,
      &write_brands_of,
      &encode_brands,
      &decode_brands,
      &same_brands,
      &copy_brands,
      R"({"type":"array","maxItems":1000,"items":{"oneOf":[{"type":"integer","minimum":1},{"const":"*"}]},"description":"brand ids, or the one item * for every brand"})"};
  static const schema::custom_access<K> digest{&read_digest,          &write_digest, &encode_digest,
                                               &decode_digest,        &same_digest,  &copy_digest,
                                               R"({"type":"string"})"};
  static const schema::custom_access<K> expiry{
      &read_expiry,
      &write_expiry,
      &encode_expiry,
      &decode_expiry,
      &same_expiry,
      &copy_expiry,
      R"({"type":["string","null"],"format":"date-time","description":"when the key stops working (RFC 3339, in the future when set); null: never"})"};
  static const schema::custom_access<K> origins{
      &read_origins,
      &write_origins,
      &encode_origins,
      &decode_origins,
      &same_origins,
      &copy_origins,
      R"({"type":"array","maxItems":100,"items":{"type":"string"},"description":"a publishable key's web origins (scheme, host and port only): its only callers, by their Origin header; [] for every other role"})"};
  static const schema::custom_access<K> previous{
      &read_previous, &write_previous, &encode_previous,      &decode_previous,
      &same_previous, &copy_previous,  R"({"type":"string"})"};
  // Tags are stored: never reuse or renumber one.
  static const field<K> fields[] = {
      {"id", 1, type::integer, &K::id, server},
      {"name", 2, type::string, &K::name, required, 1, 100},
      {"role", 3, type::choice, role_access, required},
      {"accounts", 4, type::custom, accounts, required},
      {"brands", 5, type::custom, brands, required},
      {"created_at", 6, type::timestamp, &K::created_at, server},
      {"revoked_at", 7, type::nullable_timestamp, &K::revoked_at, server | omit_null},
      {"secret_sha256", 8, type::custom, digest, server | hidden},
      {"expires_at", 9, type::custom, expiry, since_v2},
      {"last_used_at", 10, type::nullable_timestamp, &K::last_used_at, server | since_v2},
      {"created_by", 11, type::nullable_integer, &K::created_by, server | since_v2},
      {"previous_secret_sha256", 12, type::custom, previous, server | hidden | since_v2},
      {"previous_secret_expires_at", 13, type::nullable_timestamp, &K::previous_expires_at,
       server | omit_null | since_v2},
      {"allowed_origins", 14, type::custom, origins, since_v2},
  };
  return fields;
}

bool role_allows(role r, access a) {
  if (r == role::publishable) return false;
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

result<api_key_request> parse_api_key_create(const rapidjson::Value& body, unix_ms now) {
  static const std::vector<std::string_view> names = schema::body_names(api_key_fields());
  field_reader in(body, names);
  api_key k;
  auto given = schema::read_body(in, api_key_fields(), k, true);
  if (k.expires_at && *k.expires_at <= now) in.fail("expires_at", "must be in the future");
  // Both lists given and valid, but neither holds anything.
  if (given.test(3) && given.test(4) && k.grants.empty()) {
    in.fail("accounts", "a key must hold at least one account or brand");
  }
  if (given.test(2) && k.role == role::publishable) {
    // Its secret is public: it names what it may resolve, and the pages that may use it.
    if (given.test(3) && k.grants.all_accounts) {
      in.fail("accounts",
              "a publishable key's secret is public: name its accounts (\"*\" is not allowed)");
    } else if (given.test(3) && k.grants.accounts.empty()) {
      in.fail("accounts", "a publishable key must hold at least one account");
    }
    if (given.test(4) && (k.grants.all_brands || !k.grants.brands.empty())) {
      in.fail("brands", "a publishable key resolves visits only: it holds no brands (give [])");
    }
    if (!given.test(13) && in.value("allowed_origins") == nullptr) {
      in.fail("allowed_origins",
              "is required for a publishable key (the web origins that may use it, such as "
              "[\"https://shop.example\"])");
    } else if (given.test(13) && k.allowed_origins.empty()) {
      in.fail("allowed_origins", "a publishable key must list at least one origin");
    }
  } else if (given.test(2) && given.test(13) && !k.allowed_origins.empty()) {
    in.fail("allowed_origins", "only a publishable key has allowed origins; leave it out");
  }
  if (auto st = in.finish(); !st) return std::move(st).err();
  return api_key_request{std::move(k.name), k.role, std::move(k.grants), k.expires_at,
                         std::move(k.allowed_origins)};
}

result<api_key_patch> parse_api_key_patch(const rapidjson::Value& body, unix_ms now) {
  field_reader in(body, {"name", "expires_at", "allowed_origins"});
  api_key k;
  auto given = schema::read_body(in, api_key_fields(), k, false);
  if (k.expires_at && *k.expires_at <= now) in.fail("expires_at", "must be in the future");
  if (given.test(13) && k.allowed_origins.empty()) {
    in.fail("allowed_origins", "a publishable key must list at least one origin");
  }
  if (auto st = in.finish(); !st) return std::move(st).err();
  api_key_patch p;
  if (given.test(1)) p.name = std::move(k.name);
  p.expiry_given = given.test(8);
  p.expires_at = k.expires_at;
  if (given.test(13)) p.allowed_origins = std::move(k.allowed_origins);
  if (!p.name && !p.expiry_given && !p.allowed_origins) {
    return field_invalid(
        "body", "give name, expires_at and/or allowed_origins (the fields a key's PATCH changes)");
  }
  return p;
}

status check_patch(const api_key& k, const api_key_patch& p) {
  if (p.allowed_origins && k.role != role::publishable) {
    return field_invalid("allowed_origins", "only a publishable key has allowed origins; API key " +
                                                std::to_string(k.id) + " is " +
                                                std::string(to_string(k.role)));
  }
  return {};
}

bool api_key::allows_origin(std::string_view origin) const {
  return std::binary_search(allowed_origins.begin(), allowed_origins.end(), origin);
}

result<std::string> normalize_origin(std::string_view raw) {
  auto refuse = [&](std::string why) -> result<std::string> {
    return make_error(errc::validation_failed,
                      "'" + excerpt(raw) + "' is not a web origin (" + why +
                          "), such as \"https://shop.example\" or \"http://localhost:8080\"");
  };
  std::string_view v = trim(raw);
  auto scheme_end = v.find("://");
  if (scheme_end == std::string_view::npos) return refuse("it has no scheme");
  auto url = parse_url(v, idna_mode::strict);
  if (!url) return refuse(url.err().message);
  if (url->scheme != "http" && url->scheme != "https") return refuse("http or https only");
  std::string_view authority = v.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos) return refuse("it has credentials");
  if (url->kind == host_kind::none || url->host.empty()) return refuse("it has no host");
  // A browser sends one page's origin: neither a pattern nor port 0 is ever sent.
  if (url->host.find('*') != std::string::npos) {
    return refuse("wildcards are not supported: list each origin pages are served from");
  }
  if (url->port && *url->port == 0) return refuse("port 0 is not a port a page is served from");
  if (!(url->path.empty() || url->path == "/") || url->query || url->fragment) {
    return refuse("only scheme, host and port: no path, query or fragment");
  }
  std::string out = url->scheme + "://" + url->host;
  if (url->port) out += ":" + std::to_string(*url->port);
  return out;
}

void write_json(json_writer& w, const api_key& k, std::string_view secret) {
  w.StartObject();
  schema::write_members(w, api_key_fields(), "", k);
  if (!secret.empty()) {
    w.Key("secret");
    write_string(w, secret);
  }
  w.EndObject();
}

std::string encode_stored_key(const api_key& k) {
  std::string out;
  schema::encode(api_key_fields(), k, out);
  return out;
}

result<api_key> decode_stored_key(std::string_view stored, bool tagged) {
  auto k = tagged ? schema::decode(api_key_fields(), stored, "API key") : [&]() -> result<api_key> {
    rapidjson::Document doc;
    doc.Parse(stored.data(), stored.size());
    if (doc.HasParseError()) return make_error(errc::internal, "stored API key: not JSON");
    return schema::read_v1(api_key_fields(), doc, "API key");
  }();
  if (k) k->grants.normalize();
  return k;
}

std::string generate_secret(domain::role for_role) {
  unsigned char bytes[32];
  random_bytes(bytes, sizeof bytes);
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out = for_role == role::publishable ? "pk_" : "rk_";
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

key_table::key_table(const std::vector<api_key>& keys, const key_table* replaced) {
  keys_.reserve(keys.size());
  for (const auto& k : keys) {
    if (k.active()) keys_.push_back(k);
  }
  // keys_ no longer grows: pointers into it stay valid.
  for (const auto& k : keys_) {
    std::shared_ptr<usage> u;
    if (replaced != nullptr) {
      if (auto old = replaced->used_.find(k.id); old != replaced->used_.end()) u = old->second;
    }
    if (!u) {
      u = std::make_shared<usage>();
      u->used = k.last_used_at.value_or(0);
    }
    by_digest_.emplace(k.secret_digest, found{&k, false, u.get()});
    if (k.previous_digest) by_digest_.emplace(*k.previous_digest, found{&k, true, u.get()});
    used_.emplace(k.id, std::move(u));
    if (k.role == role::publishable) {
      for (const auto& o : k.allowed_origins)
        page_origins_.emplace_back(o, k.expires_at);
    }
  }
  // By origin, the key that expires last (or never) first; then one entry per origin.
  std::sort(page_origins_.begin(), page_origins_.end(), [](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first < b.first;
    if (!a.second || !b.second) return !a.second && b.second.has_value();
    return *a.second > *b.second;
  });
  page_origins_.erase(std::unique(page_origins_.begin(), page_origins_.end(),
                                  [](const auto& a, const auto& b) { return a.first == b.first; }),
                      page_origins_.end());
}

bool key_table::lists_origin(std::string_view origin, unix_ms now) const {
  auto it = std::lower_bound(page_origins_.begin(), page_origins_.end(), origin,
                             [](const auto& e, std::string_view o) { return e.first < o; });
  if (it == page_origins_.end() || it->first != origin) return false;
  return !it->second || *it->second > now;
}

key_table::found key_table::find_by_secret(std::string_view secret) const {
  return find_by_digest(sha256(secret));
}

key_table::found key_table::find_by_digest(const sha256_digest& digest) const {
  auto it = by_digest_.find(digest);
  return it == by_digest_.end() ? found{} : it->second;
}

namespace {

// True for the one caller that moves `last` to `now`, a minute or more after it.
bool minute_passed(std::atomic<unix_ms>& last, unix_ms now) {
  unix_ms seen = last.load(std::memory_order_relaxed);
  if (now - seen < 60000) return false;
  return last.compare_exchange_strong(seen, now, std::memory_order_relaxed);
}

}  // namespace

bool key_table::use_due(std::int64_t id, unix_ms now) const {
  auto it = used_.find(id);
  return it != used_.end() && minute_passed(it->second->used, now);
}

bool key_table::refusal_due(std::int64_t id, unix_ms now) const {
  auto it = used_.find(id);
  return it != used_.end() && minute_passed(it->second->refused, now);
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
