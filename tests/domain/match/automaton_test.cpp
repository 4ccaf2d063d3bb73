#include "domain/match/automaton.hpp"

#include <boost/test/unit_test.hpp>
#include <random>
#include <set>

using namespace referrald::domain;

BOOST_AUTO_TEST_SUITE(automaton)

BOOST_AUTO_TEST_CASE(substring_mode_finds_every_occurrence) {
  string_automaton a({{"he", 1}, {"she", 2}, {"his", 3}, {"hers", 4}},
                     string_automaton::mode::substring);
  BOOST_TEST(a.min_value("ushers") == 1u);
  std::vector<std::uint32_t> found;
  a.all_values("ushers", found);
  BOOST_TEST(std::set<std::uint32_t>(found.begin(), found.end()) ==
             (std::set<std::uint32_t>{1, 2, 4}));
  BOOST_TEST(a.min_value("xyz") == string_automaton::none);
}

BOOST_AUTO_TEST_CASE(prefix_mode_finds_only_prefixes) {
  string_automaton a({{"shop", 5}, {"sh", 9}, {"hop", 1}}, string_automaton::mode::prefix);
  BOOST_TEST(a.min_value("shopify.com") == 5u);
  BOOST_TEST(a.min_value("eshop.com") == string_automaton::none);
  std::vector<std::uint32_t> found;
  a.all_values("shop", found);
  BOOST_TEST(std::set<std::uint32_t>(found.begin(), found.end()) ==
             (std::set<std::uint32_t>{5, 9}));
}

BOOST_AUTO_TEST_CASE(both_modes_agree_with_a_naive_search) {
  std::mt19937 rng(3);
  const std::string alphabet = "ab.c-";
  auto random_string = [&](int max) {
    std::string s;
    int n = 1 + static_cast<int>(rng() % max);
    for (int i = 0; i < n; ++i)
      s += alphabet[rng() % alphabet.size()];
    return s;
  };
  for (int round = 0; round < 50; ++round) {
    std::vector<std::pair<std::string, std::uint32_t>> strings;
    for (int i = 0; i < 40; ++i)
      strings.emplace_back(random_string(4), rng() % 1000);
    string_automaton sub(strings, string_automaton::mode::substring);
    string_automaton pre(strings, string_automaton::mode::prefix);
    for (int k = 0; k < 200; ++k) {
      std::string s = random_string(12);
      std::uint32_t sub_min = string_automaton::none, pre_min = string_automaton::none;
      std::multiset<std::uint32_t> sub_all, pre_all;
      for (const auto& [p, v] : strings) {
        // Count occurrences (each occurrence is one report).
        for (std::size_t at = s.find(p); at != std::string::npos; at = s.find(p, at + 1)) {
          sub_min = std::min(sub_min, v);
          sub_all.insert(v);
        }
        if (s.starts_with(p)) {
          pre_min = std::min(pre_min, v);
          pre_all.insert(v);
        }
      }
      BOOST_REQUIRE(sub.min_value(s) == sub_min);
      BOOST_REQUIRE(pre.min_value(s) == pre_min);
      std::vector<std::uint32_t> a, b;
      sub.all_values(s, a);
      pre.all_values(s, b);
      BOOST_REQUIRE(std::multiset<std::uint32_t>(a.begin(), a.end()) == sub_all);
      BOOST_REQUIRE(std::multiset<std::uint32_t>(b.begin(), b.end()) == pre_all);
    }
  }
}

BOOST_AUTO_TEST_CASE(bytes_outside_the_strings_never_match) {
  string_automaton a({{"a\x01", 1}}, string_automaton::mode::substring);
  BOOST_TEST(a.min_value("a\x02") == string_automaton::none);
  BOOST_TEST(a.min_value("xa\x01") == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
