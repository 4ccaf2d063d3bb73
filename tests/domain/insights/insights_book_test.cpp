#include "domain/insights/insights_book.hpp"

#include <boost/test/unit_test.hpp>
#include <string>

#include "domain/base/digest.hpp"

using namespace referrald::domain;

namespace {

// A day with counts in every part (the hosts' summary past its capacity).
day_insights full_day(std::int64_t day) {
  day_insights d;
  d.day = day;
  d.resolutions = 1234;
  d.by_reason[0] = 7;
  d.by_reason[8] = 1000;
  d.by_channel["Referral"] = 1000;
  d.by_channel["Email"] = 7;
  d.by_rule.add({rule_ref::kind::mapping, 42}, 3);
  d.by_rule.add({rule_ref::kind::channel_rule, 5}, 9);
  for (std::size_t i = 0; i < day_insights::k_hosts + 20; ++i) {
    auto& h = d.hosts.add("h" + std::to_string(i) + ".example", 1 + i % 7);
    h.data.with_session = i % 3;
    h.data.first_seen = 1'000 + static_cast<unix_ms>(i);
    h.data.last_seen = 2'000 + static_cast<unix_ms>(i);
    h.data.landing_hosts[0] = "shop.example";
    h.data.more_landing_hosts = i % 2 == 0;
  }
  auto& m = d.mediums.add("newsletter-weekly", 12);
  m.data.first_seen = 5;
  m.data.last_seen = 6;
  return d;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(insights_book_suite)

BOOST_AUTO_TEST_CASE(a_stored_day_reads_back_as_it_was) {
  auto d = full_day(20'000);
  auto back = decode_day(encode_day(d));
  BOOST_REQUIRE_MESSAGE(back.ok(), (back.ok() ? "" : back.err().message));
  BOOST_TEST(back->day == 20'000);
  BOOST_TEST(back->resolutions == 1234u);
  BOOST_TEST((back->by_reason == d.by_reason));
  BOOST_TEST((back->by_channel == d.by_channel));
  BOOST_TEST((back->by_rule == d.by_rule));
  BOOST_TEST(back->hosts.size() == d.hosts.size());
  BOOST_TEST(back->hosts.evictions() == d.hosts.evictions());
  BOOST_TEST(back->hosts.floor() == d.hosts.floor());
  for (const auto* e : d.hosts.ranked()) {
    const auto* b = back->hosts.find(e->key);
    BOOST_REQUIRE(b != nullptr);
    BOOST_TEST(b->count == e->count);
    BOOST_TEST(b->error == e->error);
    BOOST_TEST(b->data.with_session == e->data.with_session);
    BOOST_TEST(b->data.first_seen == e->data.first_seen);
    BOOST_TEST(b->data.last_seen == e->data.last_seen);
    BOOST_TEST(b->data.landing_hosts[0] == e->data.landing_hosts[0]);
    BOOST_TEST(b->data.more_landing_hosts == e->data.more_landing_hosts);
  }
  BOOST_TEST(back->mediums.find("newsletter-weekly")->count == 12u);
  // Read back and stored again: the same bytes.
  BOOST_TEST(encode_day(*back) == encode_day(d));
}

BOOST_AUTO_TEST_CASE(a_node_s_days_read_back_as_they_were_and_cut_short_do_not) {
  auto one = full_day(20'000), two = full_day(20'001);
  auto bytes = encode_days({&one, &two});
  auto back = decode_days(bytes);
  BOOST_REQUIRE_MESSAGE(back.ok(), (back.ok() ? "" : back.err().message));
  BOOST_REQUIRE(back->size() == 2u);
  BOOST_TEST(encode_day((*back)[0]) == encode_day(one));
  BOOST_TEST(encode_day((*back)[1]) == encode_day(two));
  BOOST_TEST(decode_days(encode_days({}))->empty());
  for (std::size_t cut : {std::size_t{0}, std::size_t{1}, bytes.size() / 2, bytes.size() - 1}) {
    auto bad = decode_days(bytes.substr(0, cut));
    BOOST_TEST(!bad.ok(), "cut at " << cut);
  }
  BOOST_TEST(!decode_days(bytes + "x").ok());
}

BOOST_AUTO_TEST_CASE(a_damaged_or_newer_record_is_refused_naming_why) {
  auto bytes = encode_day(full_day(3));
  for (std::size_t i : {std::size_t(0), bytes.size() / 2, bytes.size() - 1}) {
    auto damaged = bytes;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x20);
    auto r = decode_day(damaged);
    BOOST_REQUIRE(!r.ok());
    BOOST_TEST((r.err().code == errc::store_corrupted));
  }
  BOOST_TEST(!decode_day(bytes.substr(0, 3)).ok());
  // Version 2, with a checksum that matches: a newer release's.
  std::string newer = "\x02";
  newer += bytes.substr(1, bytes.size() - 5);
  std::string body = newer;
  std::uint32_t crc = crc32c(body);
  for (int i = 0; i < 4; ++i)
    newer.push_back(static_cast<char>((crc >> (8 * i)) & 0xFF));
  auto r = decode_day(newer);
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(r.err().message.find("written by a newer release") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(counts_merge_into_their_day_and_old_days_are_forgotten) {
  insights_book book(3);
  day_insights a, b, c;
  a.day = b.day = 100;
  a.resolutions = 2;
  b.resolutions = 5;
  c.day = 102;
  c.resolutions = 1;
  book.add("acme", a);
  book.add("acme", b);
  book.add("acme", c);
  book.add("beta", c);
  BOOST_TEST(book.day("acme", 100)->resolutions == 7u);
  BOOST_TEST(book.days("acme", 0, 1000).size() == 2u);
  BOOST_TEST(book.days("acme", 101, 102).size() == 1u);
  auto changed = book.take_changed();
  BOOST_TEST(changed.size() == 3u);
  BOOST_TEST(book.take_changed().empty());
  // A write that failed: the same days are changed again, and only days still kept.
  changed.emplace_back("gamma", 100);
  book.changed_again(changed);
  BOOST_TEST(book.take_changed().size() == 3u);
  // Day 103 keeps 101..103: day 100 goes, with the record it had.
  auto gone = book.prune(103);
  BOOST_TEST(gone.size() == 1u);
  BOOST_TEST(gone[0].first == "acme");
  BOOST_TEST(gone[0].second == 100);
  BOOST_TEST(book.day("acme", 100) == nullptr);
  // Past every day of an account, the account costs nothing.
  book.prune(200);
  BOOST_TEST(book.accounts().empty());
  book.add("acme", c);
  book.erase("acme");
  BOOST_TEST(book.accounts().empty());
  BOOST_TEST(book.take_changed().empty());
}

BOOST_AUTO_TEST_SUITE_END()
