#include "actors/table_readers.hpp"

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <vector>

using referrald::actors::table_readers;

namespace {

// A node's copy whose last position the test sets, and the answers of the waits.
struct fixture {
  std::atomic<std::uint64_t> copy{0};
  table_readers readers{[this] {
    return copy.load();
  }};
  std::vector<std::pair<std::uint64_t, bool>> answered;

  void wait_for(std::uint64_t seq) {
    readers.when_through(seq, [this, seq](bool ok) { answered.emplace_back(seq, ok); });
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(table_readers_suite, fixture)

BOOST_AUTO_TEST_CASE(with_nothing_told_reads_see_what_the_copy_holds) {
  copy = 7;
  BOOST_TEST(readers.through() == 7u);
  wait_for(5);
  BOOST_REQUIRE(answered.size() == 1u);
  BOOST_TEST(answered[0].second);
}

BOOST_AUTO_TEST_CASE(a_position_waits_until_each_reader_read_every_message_of_its_own_up_to_it) {
  copy = 4;
  readers.told(table_readers::connections, 5);  // the copy holds 5 before it counts it
  copy = 5;
  readers.told(table_readers::keys, 6);
  copy = 6;
  BOOST_TEST(readers.through() == 4u);
  wait_for(5);
  wait_for(6);
  BOOST_TEST(answered.empty());
  readers.read(table_readers::keys);  // keys read 6; connections have not read 5
  BOOST_TEST(readers.through() == 4u);
  BOOST_TEST(answered.empty());
  readers.read(table_readers::connections);
  BOOST_TEST(readers.through() == 6u);
  BOOST_REQUIRE(answered.size() == 2u);
  BOOST_TEST(answered[0].first == 5u);
  BOOST_TEST(answered[1].first == 6u);
  BOOST_TEST((answered[0].second && answered[1].second));
}

BOOST_AUTO_TEST_CASE(each_reading_answers_the_oldest_telling) {
  readers.told(table_readers::connections, 3);
  readers.told(table_readers::connections, 9);
  copy = 9;
  readers.read(table_readers::connections);
  BOOST_TEST(readers.through() == 8u);
  readers.read(table_readers::connections);
  BOOST_TEST(readers.through() == 9u);
  readers.read(table_readers::connections);  // one nobody asked for changes nothing
  BOOST_TEST(readers.through() == 9u);
}

BOOST_AUTO_TEST_CASE(a_reader_told_before_the_first_message_holds_back_every_position) {
  readers.told(table_readers::keys, 0);  // at start: whatever the copy held before it read
  copy = 3;
  BOOST_TEST(readers.through() == 0u);
  readers.read(table_readers::keys);
  BOOST_TEST(readers.through() == 3u);
}

BOOST_AUTO_TEST_CASE(close_answers_every_wait_no_and_later_ones_at_once) {
  copy = 2;
  readers.told(table_readers::keys, 2);
  wait_for(2);
  readers.close();
  BOOST_REQUIRE(answered.size() == 1u);
  BOOST_TEST(!answered[0].second);
  wait_for(1);
  BOOST_REQUIRE(answered.size() == 2u);
  BOOST_TEST(!answered[1].second);
}

BOOST_AUTO_TEST_SUITE_END()
