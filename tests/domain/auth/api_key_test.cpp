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
  auto back = decode_stored_key(encode_stored_key(k));
  BOOST_REQUIRE(back.ok());
  BOOST_TEST((*back == k));
  k.revoked_at = 1736071300000;
  auto revoked = decode_stored_key(encode_stored_key(k));
  BOOST_REQUIRE(revoked.ok());
  BOOST_TEST((*revoked == k));
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
  BOOST_TEST(t.find_by_secret("live-secret")->id == 1);
  BOOST_TEST(t.find_by_secret("dead-secret") == nullptr);
  BOOST_TEST(t.find_by_secret("guess") == nullptr);
}

BOOST_AUTO_TEST_SUITE_END()
