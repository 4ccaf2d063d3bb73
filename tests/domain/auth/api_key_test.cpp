#include "domain/auth/api_key.hpp"

#include <rapidjson/document.h>

#include <boost/test/unit_test.hpp>

using namespace referrald::domain;

namespace {

result<api_key_request> create(std::string_view text) {
  rapidjson::Document d;
  BOOST_REQUIRE(parse_json(text, d).ok());
  return parse_api_key_create(d);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(api_keys)

BOOST_AUTO_TEST_CASE(roles_include_the_lower_ones) {
  BOOST_TEST(role_allows(role::viewer, access::read));
  BOOST_TEST(!role_allows(role::viewer, access::write));
  BOOST_TEST(role_allows(role::editor, access::write));
  BOOST_TEST(!role_allows(role::editor, access::admin));
  BOOST_TEST(role_allows(role::admin, access::admin));
  // A publishable key is stored as 4, above admin, but holds no access level at all.
  for (auto a : {access::read, access::write, access::admin})
    BOOST_TEST(!role_allows(role::publishable, a));
  BOOST_TEST(to_string(role::publishable) == "publishable");
  BOOST_TEST((role_from_string("publishable") == role::publishable));
}

BOOST_AUTO_TEST_CASE(origins_are_read_as_browsers_send_them) {
  struct read_case {
    std::string_view raw, origin;
  };
  for (auto [raw, origin] : {read_case{"https://shop.example", "https://shop.example"},
                             read_case{" HTTPS://Shop.Example/ ", "https://shop.example"},
                             read_case{"https://shop.example:443", "https://shop.example"},
                             read_case{"http://shop.example:80/", "http://shop.example"},
                             read_case{"http://localhost:8081", "http://localhost:8081"},
                             read_case{"http://127.0.0.1:3000", "http://127.0.0.1:3000"},
                             read_case{"https://b\xC3\xBC"
                                       "cher.de",
                                       "https://xn--bcher-kva.de"}}) {
    auto got = normalize_origin(raw);
    BOOST_REQUIRE_MESSAGE(got.ok(), raw);
    BOOST_TEST(*got == origin);
  }
  for (std::string_view bad :
       {"shop.example", "ftp://shop.example", "https://shop.example/app", "https://shop.example?x",
        "https://shop.example#x", "https://user:pw@shop.example", "https://", "*", "",
        "https://shop.example:99999", "android-app://com.example", "https://*.shop.example",
        "https://shop.example:0", "http://*:8080"}) {
    BOOST_TEST(!normalize_origin(bad).ok(), bad);
  }
}

BOOST_AUTO_TEST_CASE(a_publishable_key_is_validated) {
  auto ok = create(R"({"name": "site", "role": "publishable", "accounts": ["acme"],
                       "brands": [], "allowed_origins": ["https://b.example", "https://A.example",
                       "https://a.example/"]})");
  BOOST_REQUIRE(ok.ok());
  BOOST_TEST(ok->allowed_origins ==
             (std::vector<std::string>{"https://a.example", "https://b.example"}));
  auto secret = generate_secret(role::publishable);
  BOOST_TEST(secret.rfind("pk_", 0) == 0u);
  BOOST_TEST(secret.size() == 3u + 43u);
  api_key k;
  k.role = role::publishable;
  k.allowed_origins = ok->allowed_origins;
  BOOST_TEST(k.allows_origin("https://a.example"));
  BOOST_TEST(!k.allows_origin("https://a.example/"));
  BOOST_TEST(!k.allows_origin("https://c.example"));

  for (
      std::string_view body : {
          R"({"name": "p", "role": "publishable", "accounts": ["acme"], "brands": []})",
          R"({"name": "p", "role": "publishable", "accounts": ["*"], "brands": [], "allowed_origins": ["https://a.example"]})",
          R"({"name": "p", "role": "publishable", "accounts": [], "brands": [], "allowed_origins": ["https://a.example"]})",
          R"({"name": "p", "role": "publishable", "accounts": ["acme"], "brands": ["*"], "allowed_origins": ["https://a.example"]})",
          R"({"name": "p", "role": "publishable", "accounts": ["acme"], "brands": [], "allowed_origins": "https://a.example"})",
          R"({"name": "v", "role": "viewer", "accounts": ["acme"], "brands": [], "allowed_origins": ["https://a.example"]})",
      }) {
    BOOST_TEST(!create(body).ok(), body);
  }
  // Another role may say it has none.
  BOOST_TEST(
      create(
          R"({"name": "v", "role": "viewer", "accounts": ["acme"], "brands": [], "allowed_origins": []})")
          .ok());
}

BOOST_AUTO_TEST_CASE(create_body_is_validated) {
  auto ok = create(R"({"name": "ci", "role": "editor", "accounts": ["acme", "beta"],
                       "brands": [1, 2]})");
  BOOST_REQUIRE(ok.ok());
  BOOST_TEST(ok->grants.accounts == (std::vector<std::string>{"acme", "beta"}));
  BOOST_TEST(ok->grants.brands == (std::vector<std::int64_t>{1, 2}));
  auto all = create(R"({"name": "root", "role": "admin", "accounts": ["*"], "brands": ["*"]})");
  BOOST_REQUIRE(all.ok());
  BOOST_TEST(all->grants.all_accounts);
  BOOST_TEST(all->grants.all_brands);

  BOOST_TEST(!create(R"({"role": "admin"})").ok());
  BOOST_TEST(!create(R"({"name": "x", "role": "owner"})").ok());
  BOOST_TEST(!create(R"({"name": "x", "role": "viewer", "accounts": ["Bad Id"]})").ok());
  BOOST_TEST(!create(R"({"name": "x", "role": "viewer", "accounts": ["*", "acme"]})").ok());
  BOOST_TEST(!create(R"({"name": "x", "role": "viewer", "brands": [0]})").ok());
  BOOST_TEST(!create(R"({"name": "x", "role": "viewer", "brands": ["7"]})").ok());
  BOOST_TEST(!create(R"({"name": "x", "role": "viewer", "accounts": "acme"})").ok());
  BOOST_TEST(!create(R"({"name": "x", "role": "viewer", "secret": "mine"})").ok());
}

BOOST_AUTO_TEST_CASE(grants_cover_only_subsets) {
  grants wide{true, {}, true, {}};
  grants narrow{false, {"acme"}, false, {7}};
  grants other{false, {"beta"}, false, {}};
  BOOST_TEST(wide.covers(narrow));
  BOOST_TEST(!narrow.covers(wide));
  BOOST_TEST(narrow.covers(narrow));
  BOOST_TEST(!narrow.covers(other));
  BOOST_TEST(narrow.holds_account("acme"));
  BOOST_TEST(!narrow.holds_account("beta"));
  BOOST_TEST(narrow.holds_brand(7));
  BOOST_TEST(!narrow.holds_brand(8));
}

BOOST_AUTO_TEST_CASE(secrets_are_random_and_url_safe) {
  auto a = generate_secret();
  auto b = generate_secret();
  BOOST_TEST(a != b);
  BOOST_TEST(a.size() == 3u + 43u);
  BOOST_TEST(a.rfind("rk_", 0) == 0u);
  for (char c : a.substr(3))
    BOOST_TEST((std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'));
}

BOOST_AUTO_TEST_CASE(stored_form_round_trips_and_hides_nothing_it_needs) {
  api_key k;
  k.id = 3;
  k.name = "ci";
  k.role = role::editor;
  k.grants = grants{false, {"acme"}, false, {5}};
  k.created_at = 1736071200000;
  k.secret_digest = sha256("rk_secret");
  auto back = decode_stored_key(encode_stored_key(k), true);
  BOOST_REQUIRE(back.ok());
  BOOST_TEST((*back == k));
  k.revoked_at = 1736071300000;
  auto revoked = decode_stored_key(encode_stored_key(k), true);
  BOOST_REQUIRE(revoked.ok());
  BOOST_TEST((*revoked == k));
  k.grants = grants{true, {}, true, {}};
  auto all = decode_stored_key(encode_stored_key(k), true);
  BOOST_REQUIRE(all.ok());
  BOOST_TEST((*all == k));
  // The lifecycle fields round-trip too (and, set, make every truncation below lose one).
  k.expires_at = 1736071400000;
  k.last_used_at = 1736071350000;
  k.created_by = 1;
  k.previous_digest = sha256("rk_before");
  k.previous_expires_at = 1736071500000;
  k.allowed_origins = {"http://localhost:8081", "https://shop.example"};
  auto lifecycle = decode_stored_key(encode_stored_key(k), true);
  BOOST_REQUIRE(lifecycle.ok());
  BOOST_TEST((*lifecycle == k));
  // The stored form holds the digest, never the secret, and no API name.
  std::string stored = encode_stored_key(k);
  BOOST_TEST(stored.find("rk_secret") == std::string::npos);
  BOOST_TEST(stored.find("secret_sha256") == std::string::npos);
  // Every truncation is refused, never read as a different key.
  for (std::size_t n = 1; n < stored.size(); ++n) {
    auto cut = decode_stored_key(std::string_view(stored).substr(0, n), true);
    BOOST_TEST((!cut.ok() || !(*cut == k)));
  }
}

// A key stored before the lifecycle fields existed (format 2 with tags 1-8 only) reads
// back with them absent: no expiry, never used, no creator, no previous secret.
BOOST_AUTO_TEST_CASE(a_key_stored_before_the_lifecycle_fields_reads_back) {
  api_key k;
  k.id = 4;
  k.name = "before";
  k.role = role::editor;
  k.grants = grants{false, {"acme"}, false, {}};
  k.created_at = 1736071200000;
  k.secret_digest = sha256("rk_old");
  std::string stored = encode_stored_key(k);
  // The lifecycle fields at their defaults are the last 10 bytes: tags 9, 10, 12 and 13 with
  // "absent" (created_by, null, is left out), then tag 14 with no allowed origins. Without
  // them it is what 0.2 wrote.
  std::string old = stored.substr(0, stored.size() - 10);
  BOOST_REQUIRE(static_cast<unsigned char>(stored[stored.size() - 10]) == 9u);
  BOOST_REQUIRE(static_cast<unsigned char>(stored[stored.size() - 2]) == 14u);
  auto read = decode_stored_key(old, true);
  BOOST_REQUIRE(read.ok());
  BOOST_TEST((*read == k));
  BOOST_TEST(!read->expires_at.has_value());
  BOOST_TEST(!read->last_used_at.has_value());
  BOOST_TEST(!read->created_by.has_value());
  BOOST_TEST(!read->previous_digest.has_value());
  BOOST_TEST(read->allowed_origins.empty());
  // And one stored before allowed_origins (tags 1-13): no origins.
  auto before_origins = decode_stored_key(stored.substr(0, stored.size() - 2), true);
  BOOST_REQUIRE(before_origins.ok());
  BOOST_TEST((*before_origins == k));
}

// Exactly what release 0.2 stored (format 1) is read back.
BOOST_AUTO_TEST_CASE(format_1_stored_json_is_read) {
  std::string digest = to_hex(sha256("rk_secret"));
  std::string v1 = R"({"id":3,"name":"ci","role":"editor","accounts":["zeta","acme"],)"
                   R"("brands":[7,5],"created_at":"2025-01-05T10:00:00.000Z","secret_sha256":")" +
                   digest + R"(","revoked_at":null})";
  auto k = decode_stored_key(v1, false);
  BOOST_REQUIRE(k.ok());
  BOOST_TEST(k->id == 3);
  BOOST_TEST(k->name == "ci");
  BOOST_TEST((k->role == role::editor));
  BOOST_TEST((k->grants == grants{false, {"acme", "zeta"}, false, {5, 7}}));
  BOOST_TEST(k->created_at == 1736071200000);
  BOOST_TEST((k->secret_digest == sha256("rk_secret")));
  BOOST_TEST(!k->revoked_at.has_value());
  std::string revoked = v1;
  revoked.replace(revoked.find("null"), 4, R"("2025-01-05T10:01:40.000Z")");
  auto r = decode_stored_key(revoked, false);
  BOOST_REQUIRE(r.ok());
  BOOST_TEST((r->revoked_at == std::optional<std::int64_t>(1736071300000)));
  std::string all = v1;
  all.replace(all.find(R"(["zeta","acme"])"), 15, R"(["*"])");
  auto a = decode_stored_key(all, false);
  BOOST_REQUIRE(a.ok());
  BOOST_TEST(a->grants.all_accounts);
  std::string no_digest = v1;
  no_digest.replace(no_digest.find(digest), 64, "xyz");
  BOOST_TEST(!decode_stored_key(no_digest, false).ok());
}

BOOST_AUTO_TEST_CASE(key_table_finds_active_keys_by_secret_only) {
  api_key live;
  live.id = 1;
  live.secret_digest = sha256("live-secret");
  api_key dead;
  dead.id = 2;
  dead.secret_digest = sha256("dead-secret");
  dead.revoked_at = 5;
  key_table t({live, dead});
  BOOST_TEST(t.find_by_secret("live-secret").key->id == 1);
  BOOST_TEST(t.find_by_secret("dead-secret").key == nullptr);
  BOOST_TEST(t.find_by_secret("guess").key == nullptr);
}

// A preflight was answered for an expired publishable key's origins: the page then reported
// "Failed to fetch" instead of the key's expiry.
BOOST_AUTO_TEST_CASE(an_origin_is_listed_while_a_key_listing_it_has_not_expired) {
  auto page_key = [](std::int64_t id, std::vector<std::string> origins,
                     std::optional<unix_ms> expires) {
    api_key k;
    k.id = id;
    k.role = role::publishable;
    k.secret_digest = sha256("secret-" + std::to_string(id));
    k.allowed_origins = std::move(origins);
    k.expires_at = expires;
    return k;
  };
  key_table t({page_key(1, {"https://a.example", "https://b.example"}, 1000),
               page_key(2, {"https://b.example"}, 2000), page_key(3, {"https://c.example"}, {})});
  BOOST_TEST(t.lists_origin("https://a.example", 999));
  BOOST_TEST(!t.lists_origin("https://a.example", 1000));
  BOOST_TEST(t.lists_origin("https://b.example", 1500));  // key 2 still lists it
  BOOST_TEST(!t.lists_origin("https://b.example", 2000));
  BOOST_TEST(t.lists_origin("https://c.example", 1LL << 50));  // never expires
  BOOST_TEST(!t.lists_origin("https://d.example", 0));
}

BOOST_AUTO_TEST_SUITE_END()
