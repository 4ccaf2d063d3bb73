#pragma once

// API keys and what they may do (docs/api-guide.md, "API keys (admin)"). A key is identified to the
// server by the SHA-256 digest of its secret; the secret itself is shown once and never stored.

#include <rapidjson/fwd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "domain/base/clock.hpp"
#include "domain/base/digest.hpp"
#include "domain/base/json.hpp"
#include "domain/base/result.hpp"
#include "domain/base/schema.hpp"

namespace referrald::domain {

// Stored as one byte; the values never change. Of viewer, editor and admin, higher roles
// include the lower ones. A publishable key (its secret is meant for web pages) holds no
// access level: it may only resolve single visits of its accounts from its allowed origins
// (docs/api-guide.md, "Publishable keys").
enum class role : std::uint8_t { viewer = 1, editor = 2, admin = 3, publishable = 4 };

std::string_view to_string(role r);
std::optional<role> role_from_string(std::string_view s);

// What a route needs: read (viewer+), write (editor+), admin (keys, snapshots, audit log).
enum class access : std::uint8_t { read = 1, write = 2, admin = 3 };

// Whether role `r` gives access `a` (never for a publishable key).
bool role_allows(role r, access a);

// The most origins a publishable key lists.
inline constexpr std::size_t k_max_allowed_origins = 100;

// A web origin as browsers send it in `Origin` ("https://shop.example",
// "http://127.0.0.1:8081"): http or https, a host, a port only when not the scheme's default;
// no credentials, path, query or fragment (a lone trailing '/' is dropped). The host is
// lowercased and, for an international name, punycode.
result<std::string> normalize_origin(std::string_view raw);

// The tenants a key may touch; `all_*` is the `["*"]` wildcard. The lists are kept
// sorted and without duplicates (normalize()), so that lookups are binary searches.
struct grants {
  bool all_accounts = false;
  std::vector<std::string> accounts;
  bool all_brands = false;
  std::vector<std::int64_t> brands;

  bool holds_account(std::string_view account_id) const;
  bool holds_brand(std::int64_t brand_id) const;
  // True when every tenant `other` names is also held by this.
  bool covers(const grants& other) const;
  // Sorts the lists and drops duplicates.
  void normalize();
  // Holds no account and no brand.
  bool empty() const;

  friend bool operator==(const grants&, const grants&) = default;
};

struct api_key {
  std::int64_t id = 0;
  std::string name;
  domain::role role = role::viewer;
  domain::grants grants;
  unix_ms created_at = 0;
  sha256_digest secret_digest{};
  std::optional<unix_ms> revoked_at;
  std::optional<unix_ms> expires_at;       // refused from then on (401, saying it expired)
  std::optional<unix_ms> last_used_at;     // the last authentication, to the minute
  std::optional<std::int64_t> created_by;  // the key that created it (none: bootstrap, CLI)
  // After a rotation: the secret before it, which keeps working until `previous_expires_at`.
  std::optional<sha256_digest> previous_digest;
  std::optional<unix_ms> previous_expires_at;
  // A publishable key's web origins (normalize_origin), sorted; empty for every other role.
  std::vector<std::string> allowed_origins;

  bool active() const { return !revoked_at.has_value(); }
  bool expired(unix_ms now) const { return expires_at && *expires_at <= now; }
  // Whether a publishable key may be used from `origin` (as the request's Origin gives it).
  bool allows_origin(std::string_view origin) const;
  // An active admin key holding every account and every brand: the key that can make
  // any other key.
  bool is_full_admin() const {
    return active() && role == role::admin && grants.all_accounts && grants.all_brands;
  }
  friend bool operator==(const api_key&, const api_key&) = default;
};

// Whether key `id` of `keys` may be revoked: not when it is the last full admin (revoking
// it would lock every administrator out; `referralctl keys create` is then the only way
// back). conflict, with a message saying why, when refused.
status check_revocation(const std::vector<api_key>& keys, std::int64_t id);

// A validated POST /api-keys body: {name, role, accounts, brands, expires_at,
// allowed_origins}. A publishable key names its accounts (not "*"), no brands, and at least
// one allowed origin; no other role has allowed origins.
struct api_key_request {
  std::string name;
  domain::role role = role::viewer;
  domain::grants grants;
  std::optional<unix_ms> expires_at;
  std::vector<std::string> allowed_origins;
};

result<api_key_request> parse_api_key_create(const rapidjson::Value& body, unix_ms now = now_ms());

// A validated PATCH /api-keys/{id} body: name, expires_at (null: never expires) and/or
// allowed_origins (a publishable key's only; check_patch says so for other keys).
struct api_key_patch {
  std::optional<std::string> name;
  bool expiry_given = false;
  std::optional<unix_ms> expires_at;
  std::optional<std::vector<std::string>> allowed_origins;
};

result<api_key_patch> parse_api_key_patch(const rapidjson::Value& body, unix_ms now = now_ms());

// Whether `p` may be applied to `k`: allowed_origins only on a publishable key.
status check_patch(const api_key& k, const api_key_patch& p);

// The public view: {"id","name","role","accounts","brands","created_at"} plus
// "revoked_at" for a revoked key; the secret's digest is never shown. A non-empty `secret` is added
// as "secret" (the create response, the only place a secret is ever shown).
void write_json(json_writer& w, const api_key& k, std::string_view secret = {});

// The key's fields (domain/base/schema.hpp): its API shape, validation and stored encoding.
std::span<const schema::field<api_key>> api_key_fields();

// The stored form: the tagged encoding of the field table; `tagged` false reads the JSON
// that release 0.2 stored (the public view plus "secret_sha256" and "revoked_at").
std::string encode_stored_key(const api_key& k);
result<api_key> decode_stored_key(std::string_view stored, bool tagged);

// A new random secret: "rk_" followed by 43 base64url characters (256 bits); "pk_" instead
// for a publishable key.
std::string generate_secret(domain::role for_role = role::viewer);

// An immutable index of the active (not revoked) keys by secret digest — expired ones
// included, so that their refusal can say so; shared between threads.
class key_table {
 public:
  // What request handling keeps per key beside it: when its use and its refusal were last
  // reported, and its rate-limit bucket (http/rate_limiter.hpp). Shared with the table this
  // one replaces (a request still holding that one updates the same bucket).
  struct usage {
    std::atomic<unix_ms> used{0};
    std::atomic<unix_ms> refused{0};
    std::atomic<std::int64_t> bucket{0};
  };

  key_table() = default;
  explicit key_table(const std::vector<api_key>& keys, const key_table* replaced = nullptr);

  struct found {
    const api_key* key = nullptr;
    bool previous = false;  // by the secret a rotation replaced (check previous_expires_at)
    usage* use = nullptr;
  };
  // The active key whose secret (current or previous) is `secret`.
  found find_by_secret(std::string_view secret) const;
  found find_by_digest(const sha256_digest& digest) const;
  std::size_t size() const { return by_digest_.size(); }
  // Whether some active publishable key not expired at `now` lists `origin` (a browser's
  // preflight carries no key: it is answered for the origins of every such key).
  bool lists_origin(std::string_view origin, unix_ms now) const;

  // True, at most once a minute per key and table, when key `id` used at `now` should
  // have its last_used_at recorded (it was last recorded a minute or more before).
  bool use_due(std::int64_t id, unix_ms now) const;
  // The same for recording a refused use of the (expired) key `id`.
  bool refusal_due(std::int64_t id, unix_ms now) const;

 private:
  struct digest_hash {
    std::size_t operator()(const sha256_digest& d) const;
  };
  std::unordered_map<sha256_digest, found, digest_hash> by_digest_;
  std::vector<api_key> keys_;
  std::unordered_map<std::int64_t, std::shared_ptr<usage>> used_;
  // The origins publishable keys list, sorted, each with the latest expiry of a key that
  // lists it (nullopt: one never expires).
  std::vector<std::pair<std::string, std::optional<unix_ms>>> page_origins_;
};

}  // namespace referrald::domain
