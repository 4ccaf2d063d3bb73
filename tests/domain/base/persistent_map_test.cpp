#include "domain/base/persistent_map.hpp"

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace referrald::domain;

BOOST_AUTO_TEST_SUITE(persistent_map_suite)

// `map` is valid and holds exactly `want`'s entries, in its order.
template <class Map, class Ref>
void require_same(const Map& map, const Ref& want) {
  BOOST_REQUIRE(map.valid());
  BOOST_REQUIRE(map.size() == want.size());
  auto it = want.begin();
  for (auto [k, v] : map) {
    BOOST_TEST(k == it->first);
    BOOST_TEST(v == it->second);
    ++it;
  }
}

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
  for (const auto& [map, want] : kept)
    require_same(map, want);
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

// String keys live in their node's own allocation: keys of every length (none, short, and
// past any small-string buffer) are kept, found, iterated in order and freed like others.
BOOST_AUTO_TEST_CASE(string_keys_of_any_length_behave_like_std_map) {
  std::mt19937 rng(13);
  persistent_map<std::string, int> m;
  std::map<std::string, int, std::less<>> ref;
  std::vector<std::pair<persistent_map<std::string, int>, std::map<std::string, int, std::less<>>>>
      kept;
  for (int step = 0; step < 20000; ++step) {
    std::string key(rng() % 70, 'a');
    for (auto& c : key)
      c = static_cast<char>('a' + rng() % 3);
    if (rng() % 4 == 0) {
      m = m.erase(key);
      ref.erase(key);
    } else if (rng() % 2 == 0) {
      m.put(key, step);
      ref[key] = step;
    } else {
      m = m.set(key, step);
      ref[key] = step;
    }
    if (step % 1500 == 0) kept.emplace_back(m, ref);
  }
  kept.emplace_back(m, ref);
  for (const auto& [map, want] : kept) {
    require_same(map, want);
    for (const auto& [k, v] : want) {
      const int* found = map.find(std::string_view(k));
      BOOST_REQUIRE(found != nullptr);
      BOOST_TEST(*found == v);
    }
  }
  BOOST_TEST(m.find(std::string_view("d")) == nullptr);
}

// Every node is freed once: values counting their live copies are all gone when the maps
// holding them are, whatever mix of shared and private nodes the updates made.
BOOST_AUTO_TEST_CASE(every_node_is_freed_once) {
  struct counted {
    explicit counted(int* n) : live(n) { ++*live; }
    counted(const counted& o) : live(o.live) { ++*live; }
    counted& operator=(const counted& o) = default;
    ~counted() { --*live; }
    int* live;
  };
  int live = 0;
  {
    std::mt19937 rng(5);
    persistent_map<int, counted> m;
    std::vector<persistent_map<int, counted>> kept;
    for (int step = 0; step < 5000; ++step) {
      int key = static_cast<int>(rng() % 300);
      if (rng() % 4 == 0) {
        m = m.erase(key);
      } else if (rng() % 2 == 0) {
        m.put(key, counted(&live));
      } else {
        m = m.set(key, counted(&live));
      }
      if (step % 250 == 0) kept.push_back(m);
      if (step % 700 == 0 && !kept.empty()) kept.erase(kept.begin());
    }
    BOOST_REQUIRE(m.valid());
    BOOST_TEST(live >= static_cast<int>(m.size()));
  }
  BOOST_TEST(live == 0);
}

// One thread updates its map in place and hands copies to readers on other threads, as an
// account actor publishes its state: a copy never changes after it was handed over, and a
// node is changed in place only when the readers have dropped every copy holding it (the
// ThreadSanitizer build checks the ordering of the two).
BOOST_AUTO_TEST_CASE(copies_read_on_other_threads_never_change) {
  using map = persistent_map<int, int>;
  std::mutex mu;
  std::shared_ptr<const map> published = std::make_shared<const map>();
  std::atomic<bool> done{false};
  std::atomic<long> bad{0};
  auto reader = [&] {
    while (!done.load()) {
      std::shared_ptr<const map> view;
      {
        std::lock_guard lock(mu);
        view = published;
      }
      long sum = 0;
      std::size_t n = 0;
      for (auto [k, v] : *view) {
        if (v != 2 * k && v != 2 * k + 1) ++bad;
        sum += v;
        ++n;
      }
      long again = 0;
      for (auto [k, v] : *view)
        again += v;
      if (n != view->size() || sum != again) ++bad;
    }
  };
  std::thread r1(reader), r2(reader);
  map m;
  std::mt19937 rng(3);
  for (int step = 0; step < 20000; ++step) {
    int key = static_cast<int>(rng() % 2000);
    m.put(key, 2 * key + static_cast<int>(rng() % 2));
    if (step % 3 == 0) {
      auto copy = std::make_shared<const map>(m);
      std::lock_guard lock(mu);
      published = std::move(copy);
    }
  }
  done = true;
  r1.join();
  r2.join();
  BOOST_TEST(bad.load() == 0);
  BOOST_TEST(m.valid());
}

BOOST_AUTO_TEST_SUITE_END()
