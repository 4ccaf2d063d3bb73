#include "domain/base/key_filter.hpp"

#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

using namespace referrald::domain;

namespace {

// Adds `keys` one at a time as a set would: the set's keys so far are given for a rebuild.
void add_all(key_filter& f, std::vector<std::string>& held, const std::vector<std::string>& keys) {
  for (const auto& k : keys) {
    held.push_back(k);
    f.add(k, held.size(), [&](const auto& fn) {
      for (const auto& h : held)
        fn(h);
    });
  }
}

std::vector<std::string> numbered(const std::string& prefix, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i)
    out.push_back(prefix + std::to_string(i) + ".example.com");
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(key_filter_suite)

BOOST_AUTO_TEST_CASE(says_maybe_to_every_key_added_through_its_growth_and_no_to_most_others) {
  key_filter f;
  BOOST_TEST(!f.may_hold("google.com"));  // nothing added: nothing held
  BOOST_TEST(!f.may_hold(""));
  std::vector<std::string> held;
  auto keys = numbered("pay", 20000);  // grows from 512 bits to 2^19, rebuilt at each step
  add_all(f, held, keys);
  for (const auto& k : keys)
    BOOST_TEST_REQUIRE(f.may_hold(k), k);
  int maybe = 0;
  for (const auto& k : numbered("other", 100000))
    maybe += f.may_hold(k) ? 1 : 0;
  // About 16 bits per key and two probes: some 1.4% of keys not held say maybe.
  BOOST_TEST(maybe < 3000, maybe);
}

BOOST_AUTO_TEST_CASE(a_copy_changed_leaves_the_original_as_it_was) {
  key_filter original;
  std::vector<std::string> held;
  add_all(original, held, {"a.com"});
  key_filter copy = original;
  auto copy_held = held;
  auto more = numbered("b", 20);  // within the first 512 bits: set in place, not rebuilt
  add_all(copy, copy_held, more);
  int shared = 0;
  for (const auto& k : more) {
    BOOST_TEST(copy.may_hold(k));
    shared += original.may_hold(k) ? 1 : 0;
  }
  BOOST_TEST(shared == 0);
  BOOST_TEST(original.may_hold("a.com"));
}

BOOST_AUTO_TEST_CASE(
    a_copy_of_many_blocks_changed_leaves_the_original_and_other_copies_as_they_were) {
  // 6,000 keys: 2^17 bits, four blocks of 4 KiB. Copies share them; each change makes the
  // changed copy its own block, which no other copy sees.
  key_filter original;
  std::vector<std::string> held;
  add_all(original, held, numbered("held", 6000));
  auto more = numbered("more", 200);  // 6,200 keys still fit 2^17 bits: set, not rebuilt
  std::vector<bool> before;
  for (const auto& k : more)
    before.push_back(original.may_hold(k));
  key_filter first = original;
  key_filter second = original;
  auto first_held = held;
  add_all(first, first_held, more);
  auto second_held = held;
  add_all(second, second_held, numbered("other", 100));
  for (std::size_t i = 0; i < more.size(); ++i) {
    BOOST_TEST_REQUIRE(first.may_hold(more[i]), more[i]);
    BOOST_TEST_REQUIRE(original.may_hold(more[i]) == before[i], more[i]);
  }
  int in_second = 0;
  for (const auto& k : more)
    in_second += second.may_hold(k) ? 1 : 0;
  BOOST_TEST(in_second < 10, in_second);  // by chance only (some 0.5%)
  for (const auto& k : held) {
    BOOST_TEST_REQUIRE(original.may_hold(k), k);
    BOOST_TEST_REQUIRE(first.may_hold(k), k);
    BOOST_TEST_REQUIRE(second.may_hold(k), k);
  }
}

BOOST_AUTO_TEST_CASE(is_rebuilt_when_it_has_taken_many_more_keys_than_the_set_holds) {
  // A set of one key whose key changes again and again (a rule renamed): the filter is
  // rebuilt from the set's one key before it fills with the old ones.
  key_filter f;
  std::vector<std::string> held;
  auto names = numbered("renamed", 2000);
  for (const auto& k : names) {
    held = {k};
    f.add(k, 1, [&](const auto& fn) { fn(k); });
  }
  int maybe = 0;
  for (std::size_t i = 0; i + 1 < names.size(); ++i)
    maybe += f.may_hold(names[i]) ? 1 : 0;
  BOOST_TEST(f.may_hold(names.back()));
  // Without rebuilds all 2,000 would fill its 512 bits: nearly every name would say maybe.
  // With them: at most the 66 set since the last one, and some 5% of the others by chance.
  BOOST_TEST(maybe < 400, maybe);
}

BOOST_AUTO_TEST_SUITE_END()
