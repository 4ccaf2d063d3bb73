#include "domain/base/string_table.hpp"

#include <boost/test/unit_test.hpp>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "domain/base/text.hpp"

using namespace referrald::domain;

BOOST_AUTO_TEST_SUITE(string_table_suite)

BOOST_AUTO_TEST_CASE(finds_what_was_added_and_keeps_the_first_value) {
  string_table<int> t;
  BOOST_TEST(t.empty());
  BOOST_TEST(t.find("a") == nullptr);
  BOOST_TEST(t.emplace("google.com", 1));
  BOOST_TEST(t.emplace("", 2));  // the empty string is a key like any other
  BOOST_TEST(!t.emplace("google.com", 3));
  BOOST_TEST(t.size() == 2u);
  BOOST_TEST_REQUIRE(t.find("google.com") != nullptr);
  BOOST_TEST(*t.find("google.com") == 1);
  BOOST_TEST(*t.find("") == 2);
  BOOST_TEST(t.find("google.co") == nullptr);
  BOOST_TEST(t.find("google.com.") == nullptr);
  t["google.com"] = 4;
  t["bing.com"] += 5;
  BOOST_TEST(*t.find("google.com") == 4);
  BOOST_TEST(*t.find("bing.com") == 5);
  int seen = 0;
  t.for_each([&](std::string_view, int v) { seen += v; });
  BOOST_TEST(seen == 11);
}

BOOST_AUTO_TEST_CASE(answers_as_a_hash_map_does_across_growth) {
  std::mt19937 rng(3);
  string_table<std::size_t> t;
  std::unordered_map<std::string, std::size_t> reference;
  auto random_key = [&] {
    std::string k(rng() % 24, 'a');
    for (char& c : k)
      c = static_cast<char>('a' + rng() % 5);  // few letters: many near collisions
    return k;
  };
  for (std::size_t i = 0; i < 20000; ++i) {
    std::string k = random_key();
    bool fresh = reference.emplace(k, i).second;
    BOOST_TEST(t.emplace(k, i) == fresh);
  }
  BOOST_TEST(t.size() == reference.size());
  for (int i = 0; i < 20000; ++i) {
    std::string k = random_key();
    auto it = reference.find(k);
    const std::size_t* v = t.find(k);
    BOOST_TEST((v == nullptr) == (it == reference.end()), k);
    if (v != nullptr && it != reference.end()) BOOST_TEST(*v == it->second);
  }
}

BOOST_AUTO_TEST_CASE(find_first_of_finds_the_first_byte_of_the_set_at_any_offset) {
  for (std::size_t len = 0; len < 40; ++len) {
    for (std::size_t at = 0; at <= len; ++at) {
      std::string s(len, 'x');
      if (at < len) s[at] = '\n';
      if (at + 3 < len) s[at + 3] = '\t';
      std::size_t want = std::string_view(s).find_first_of("\t\n\r");
      std::size_t got = find_first_of<'\t', '\n', '\r'>(s);
      BOOST_TEST(got == want, len << " " << at);
    }
  }
  // Bytes next to the ones sought (and high bytes) are not mistaken for them.
  std::string near = "\x08\x0B\x0C\x0E\x89\x8A\x8D\xFF\x08\x0B\x0C\x0E\x89\x8A\x8D\xFF";
  auto controls = [](std::string_view s) {
    return find_first_of<'\t', '\n', '\r'>(s);
  };
  BOOST_TEST(controls(near) == std::string_view::npos);
  BOOST_TEST(controls(near + "\r") == near.size());
}

BOOST_AUTO_TEST_SUITE_END()
