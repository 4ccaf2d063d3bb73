#include "domain/insights/heavy_hitters.hpp"

#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <map>
#include <random>
#include <string>

using namespace referrald::domain;

namespace {

struct none {
  void merge(const none&) {}
  void clear() {}
};

// A stream of `n` keys, Zipf-like: key k comes about 1/(k+1) as often as key 0.
std::vector<std::string> skewed(std::size_t n, std::size_t keys, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<double> weights;
  for (std::size_t k = 0; k < keys; ++k)
    weights.push_back(1.0 / static_cast<double>(k + 1));
  std::discrete_distribution<std::size_t> pick(weights.begin(), weights.end());
  std::vector<std::string> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    out.push_back("host" + std::to_string(pick(rng)) + ".example");
  return out;
}

// Every kept entry's true count lies in [count - error, count]; every key counted more
// than floor() times is kept; floor() is at most total / capacity.
void check_bounds(const heavy_hitters<none>& h, const std::map<std::string, std::uint64_t>& truth,
                  std::uint64_t total) {
  for (const auto* e : h.ranked()) {
    auto t = truth.count(e->key) != 0 ? truth.at(e->key) : 0;
    BOOST_TEST(e->count >= t, e->key);
    BOOST_TEST(e->count - e->error <= t, e->key);
  }
  for (const auto& [key, t] : truth) {
    if (t > h.floor()) BOOST_TEST(h.find(key) != nullptr, key << " seen " << t);
  }
  BOOST_TEST(h.floor() <= total / h.capacity());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(heavy_hitters_suite)

BOOST_AUTO_TEST_CASE(below_its_capacity_every_count_is_exact) {
  heavy_hitters<none> h(10);
  for (int i = 0; i < 5; ++i)
    for (int k = 0; k <= i; ++k)
      h.add("k" + std::to_string(i));
  BOOST_TEST(h.size() == 5u);
  BOOST_TEST(h.floor() == 0u);
  BOOST_TEST(h.evictions() == 0u);
  auto ranked = h.ranked();
  BOOST_TEST(ranked.front()->key == "k4");
  BOOST_TEST(ranked.front()->count == 5u);
  BOOST_TEST(ranked.back()->key == "k0");
  for (const auto* e : ranked)
    BOOST_TEST(e->error == 0u);
}

BOOST_AUTO_TEST_CASE(past_its_capacity_the_counts_keep_their_bounds) {
  auto stream = skewed(200000, 5000, 7);
  std::map<std::string, std::uint64_t> truth;
  heavy_hitters<none> h(100);
  for (const auto& k : stream) {
    ++truth[k];
    h.add(k);
  }
  BOOST_TEST(h.size() == 100u);
  BOOST_TEST(h.evictions() > 0u);
  check_bounds(h, truth, stream.size());
  // The most frequent key is first, counted within its error.
  BOOST_TEST(h.ranked().front()->key == "host0.example");
}

BOOST_AUTO_TEST_CASE(merged_summaries_keep_the_bounds_of_the_whole_stream) {
  auto stream = skewed(100000, 3000, 11);
  std::map<std::string, std::uint64_t> truth;
  heavy_hitters<none> a(80), b(80);
  for (std::size_t i = 0; i < stream.size(); ++i) {
    ++truth[stream[i]];
    (i % 3 == 0 ? a : b).add(stream[i]);
  }
  a.merge(b);
  BOOST_TEST(a.size() == 80u);
  check_bounds(a, truth, stream.size());
  // Small summaries merge exactly.
  heavy_hitters<none> x(10), y(10);
  x.add("a", 3);
  x.add("b", 1);
  y.add("a", 2);
  y.add("c", 4);
  x.merge(y);
  BOOST_TEST(x.find("a")->count == 5u);
  BOOST_TEST(x.find("b")->count == 1u);
  BOOST_TEST(x.find("c")->count == 4u);
  BOOST_TEST(x.find("c")->error == 0u);
  // A summary merged into itself after reading on still finds its keys.
  x.add("d");
  BOOST_TEST(x.find("d")->count == 1u);
  BOOST_TEST(x.find("a")->count == 5u);
}

BOOST_AUTO_TEST_CASE(a_key_evicted_and_seen_again_inherits_the_floor_as_its_error) {
  heavy_hitters<none> h(2);
  h.add("a", 5);
  h.add("b", 2);
  auto& c = h.add("c");  // takes b's entry
  BOOST_TEST(c.count == 3u);
  BOOST_TEST(c.error == 2u);
  BOOST_TEST(h.find("b") == nullptr);
  BOOST_TEST(h.evictions() == 1u);
  BOOST_TEST(h.floor() == 3u);
}

BOOST_AUTO_TEST_CASE(every_kept_key_is_found_and_every_forgotten_one_is_not) {
  // Many replacements move keys about the look-up table; after each round every key the
  // summary lists is found with its own entry, and every key it forgot is not.
  heavy_hitters<none> h(257);
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> pick(0, 5000);
  std::map<std::string, bool> seen;
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 2000; ++i) {
      auto key = "k" + std::to_string(pick(rng));
      h.add(key);
      seen[key] = true;
    }
    std::map<std::string, const heavy_hitters<none>::entry*> listed;
    for (const auto* e : h.ranked())
      listed[e->key] = e;
    BOOST_TEST(listed.size() == h.size());
    for (const auto& [key, _] : seen) {
      auto it = listed.find(key);
      const auto* found = h.find(key);
      BOOST_TEST((found == (it == listed.end() ? nullptr : it->second)), key);
    }
  }
  BOOST_TEST(h.size() == 257u);
  BOOST_TEST(h.evictions() > 0u);
}

BOOST_AUTO_TEST_CASE(a_copy_counts_on_its_own) {
  heavy_hitters<none> h(4);
  for (const char* k : {"a", "b", "c", "d", "e", "a"})
    h.add(k);
  auto copy = h;
  copy.add("f");
  copy.add("a");
  BOOST_TEST(h.find("a")->count == copy.find("a")->count - 1);
  BOOST_TEST((h.find("f") == nullptr));
  BOOST_TEST((copy.find("f") != nullptr));
  BOOST_TEST(copy.evictions() == h.evictions() + 1);
}

BOOST_AUTO_TEST_SUITE_END()
