#include "domain/base/persistent_map.hpp"

#include <boost/test/unit_test.hpp>
#include <map>
#include <random>
#include <string>
#include <vector>

using namespace referrald::domain;

BOOST_AUTO_TEST_SUITE(persistent_map_suite)

BOOST_AUTO_TEST_CASE(behaves_like_std_map_under_random_operations) {
  std::mt19937 rng(7);
  persistent_map<int, int> m;
  std::map<int, int> ref;
  for (int step = 0; step < 20000; ++step) {
    int key = static_cast<int>(rng() % 500);
    if (rng() % 3 == 0) {
      m = m.erase(key);
      ref.erase(key);
    } else {
      m = m.set(key, step);
      ref[key] = step;
    }
    if (step % 997 == 0) BOOST_REQUIRE(m.valid());
  }
  BOOST_REQUIRE(m.valid());
  BOOST_TEST(m.size() == ref.size());
  auto it = ref.begin();
  for (auto [k, v] : m) {
    BOOST_REQUIRE(it != ref.end());
    BOOST_TEST(k == it->first);
    BOOST_TEST(v == it->second);
    ++it;
  }
  for (int k = 0; k < 500; ++k) {
    const int* v = m.find(k);
    BOOST_TEST((v != nullptr) == (ref.count(k) == 1));
    if (v != nullptr) BOOST_TEST(*v == ref[k]);
  }
}

BOOST_AUTO_TEST_CASE(old_versions_never_change) {
  persistent_map<int, std::string> v0;
  auto v1 = v0.set(1, "a").set(2, "b").set(3, "c");
  auto v2 = v1.set(2, "B").erase(3).set(4, "d");
  BOOST_TEST(v0.size() == 0u);
  BOOST_TEST(v1.size() == 3u);
  BOOST_TEST(*v1.find(2) == "b");
  BOOST_TEST(*v1.find(3) == "c");
  BOOST_TEST(v1.find(4) == nullptr);
  BOOST_TEST(*v2.find(2) == "B");
  BOOST_TEST(v2.find(3) == nullptr);
  BOOST_TEST(v2.size() == 3u);
  BOOST_TEST(!(v1 == v2));
  BOOST_TEST((v1 == v0.set(3, "c").set(1, "a").set(2, "b")));
}

// put() changes in place only what no other map holds: snapshots taken along the way keep
// exactly their contents, and the result is the same map set() would give.
BOOST_AUTO_TEST_CASE(put_never_changes_a_map_that_shares_its_nodes) {
  std::mt19937 rng(11);
  persistent_map<int, std::string> m;
  std::map<int, std::string> ref;
  std::vector<std::pair<persistent_map<int, std::string>, std::map<int, std::string>>> kept;
  for (int step = 0; step < 20000; ++step) {
    int key = static_cast<int>(rng() % 700);
    if (rng() % 5 == 0) {
      m = m.erase(key);
      ref.erase(key);
    } else {
      std::string v = "v" + std::to_string(step);
      m.put(key, v);
      ref[key] = v;
    }
    if (step % 1000 == 0) kept.emplace_back(m, ref);  // a snapshot shares every node
    if (step % 997 == 0) BOOST_REQUIRE(m.valid());
  }
  BOOST_REQUIRE(m.valid());
  kept.emplace_back(m, ref);
  for (const auto& [map, want] : kept) {
    BOOST_REQUIRE(map.valid());
    BOOST_REQUIRE(map.size() == want.size());
    auto it = want.begin();
    for (auto [k, v] : map) {
      BOOST_TEST(k == it->first);
      BOOST_TEST(v == it->second);
      ++it;
    }
  }
}

BOOST_AUTO_TEST_CASE(increasing_keys_stay_balanced) {
  persistent_map<long, long> m;
  for (long i = 1; i <= 100000; ++i)
    m = m.set(i, i);
  BOOST_TEST(m.valid());
  BOOST_TEST(m.size() == 100000u);
  for (long i = 1; i <= 100000; i += 2)
    m = m.erase(i);
  BOOST_TEST(m.valid());
  BOOST_TEST(m.size() == 50000u);
  BOOST_TEST((*m.begin()).first == 2);
}

BOOST_AUTO_TEST_CASE(string_keys_support_heterogeneous_lookup) {
  persistent_map<std::string, int> m;
  m = m.set("b.com", 2).set("a.com", 1);
  std::string_view key = "a.com";
  BOOST_TEST(*m.find(key) == 1);
  BOOST_TEST(m.erase(std::string_view("b.com")).size() == 1u);
  BOOST_TEST(m.erase(std::string_view("zzz")).size() == 2u);
}

BOOST_AUTO_TEST_SUITE_END()
