#include "domain/base/position_waits.hpp"

#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

using namespace referrald::domain;

BOOST_AUTO_TEST_SUITE(position_waits_of_callbacks)

BOOST_AUTO_TEST_CASE(waits_are_taken_by_position_or_by_what_they_hold_in_position_order) {
  position_waits<std::string> w;
  BOOST_TEST(w.empty());
  w.add(5, "five");
  w.add(2, "two, late");
  w.add(9, "nine, late");
  w.add(2, "two");
  w.add(7, "seven");
  BOOST_TEST(w.size() == 5u);

  // Reached 2: both waits at 2, and nothing after it.
  BOOST_TEST((w.take_through(2) == std::vector<std::string>{"two, late", "two"}));
  BOOST_TEST((w.take_through(4).empty()));
  // Those that say so, wherever they wait, in the order of their positions.
  auto late = w.take_if([](const std::string& s) { return s.ends_with("late"); });
  BOOST_TEST((late == std::vector<std::string>{"nine, late"}));
  BOOST_TEST(w.size() == 2u);
  BOOST_TEST(w.take_if([](const std::string&) { return false; }).empty());
  BOOST_TEST((w.take_all() == std::vector<std::string>{"five", "seven"}));
  BOOST_TEST(w.empty());
}

BOOST_AUTO_TEST_SUITE_END()
