#include "store/key_store.hpp"

#include <boost/test/unit_test.hpp>

#include "tests/support/temp_dir.hpp"

using namespace referrald;
using namespace referrald::store;

BOOST_AUTO_TEST_SUITE(key_store_suite)

BOOST_AUTO_TEST_CASE(offline_created_keys_get_increasing_ids_and_persist) {
  testing::temp_dir dir;
  std::string s1 = domain::generate_secret();
  std::string s2 = domain::generate_secret();
  {
    auto d = db::open({dir.path(), false});
    BOOST_REQUIRE(d.ok());
    domain::api_key_request req{"root", domain::role::admin, {true, {}, true, {}}, {}, {}};
    auto k1 = create_key_offline(**d, req, s1);
    BOOST_REQUIRE(k1.ok());
    BOOST_TEST(k1->id == 1);
    req.name = "ci";
    req.role = domain::role::viewer;
    req.grants = {false, {"acme"}, false, {3}};
    auto k2 = create_key_offline(**d, req, s2);
    BOOST_REQUIRE(k2.ok());
    BOOST_TEST(k2->id == 2);
  }
  auto d = db::open({dir.path(), true});
  BOOST_REQUIRE(d.ok());
  auto keys = key_store(**d).load_all();
  BOOST_REQUIRE(keys.ok());
  BOOST_REQUIRE(keys->size() == 2u);
  domain::key_table table(*keys);
  BOOST_TEST(table.find_by_secret(s1).key->name == "root");
  BOOST_TEST(table.find_by_secret(s2).key->grants.accounts == (std::vector<std::string>{"acme"}));
}

BOOST_AUTO_TEST_CASE(revoked_keys_stay_stored_but_stop_authenticating) {
  testing::temp_dir dir;
  auto d = db::open({dir.path(), false});
  BOOST_REQUIRE(d.ok());
  std::string secret = domain::generate_secret();
  auto k = create_key_offline(**d, {"x", domain::role::editor, {}, {}, {}}, secret);
  BOOST_REQUIRE(k.ok());
  k->revoked_at = domain::now_ms();
  write_batch b;
  key_store(**d).put(b, *k);
  BOOST_REQUIRE((*d)->write(b, true).ok());
  auto keys = key_store(**d).load_all();
  BOOST_REQUIRE(keys.ok());
  BOOST_TEST(keys->size() == 1u);
  BOOST_TEST(domain::key_table(*keys).find_by_secret(secret).key == nullptr);
}

BOOST_AUTO_TEST_SUITE_END()
