#include "store/ai_store.hpp"

#include <boost/test/unit_test.hpp>

#include <cstring>

#include "domain/base/clock.hpp"
#include "domain/base/codec.hpp"
#include "tests/support/temp_dir.hpp"

using namespace referrald;
using namespace referrald::store;

namespace {

domain::ai_row make_row(const std::string& date, const std::string& page,
                        std::optional<std::int64_t> pageviews) {
  domain::ai_row r;
  r.date = *domain::parse_date(date);
  r.referrer = "chatgpt.com";
  r.platform = "chatgpt";
  r.raw_referrer = "https://chatgpt.com/";
  r.page = page;
  r.raw_page = page;
  r.pageviews = pageviews;
  r.purchase_revenue = 1.25;
  r.batch_id = "b";
  r.list_version = "v1";
  r.received_at = 1000;
  return r;
}

const std::string k_conn = "01HZZZZZZZZZZZZZZZZZZZZZZZ";

}  // namespace

BOOST_AUTO_TEST_SUITE(ai_store_suite)

BOOST_AUTO_TEST_CASE(rows_are_scanned_by_brand_and_inclusive_date_range) {
  testing::temp_dir dir;
  auto d = std::move(*db::open({dir.path(), false}));
  ai_store s(*d);
  write_batch b;
  s.put_rows(b, 42, k_conn,
             {make_row("2026-04-30", "/a", 1), make_row("2026-05-01", "/a", 2),
              make_row("2026-05-31", "/b", std::nullopt), make_row("2026-06-01", "/a", 4)});
  s.put_rows(b, 43, k_conn, {make_row("2026-05-10", "/other-brand", 9)});
  BOOST_REQUIRE(d->write(b, true).ok());
  std::vector<stored_ai_row> got;
  BOOST_REQUIRE(s.scan_rows(42, *domain::parse_date("2026-05-01"),
                            *domain::parse_date("2026-05-31"),
                            [&](const stored_ai_row& r) {
                              got.push_back(r);
                              return true;
                            })
                    .ok());
  BOOST_REQUIRE(got.size() == 2u);
  BOOST_TEST(domain::format_date(got[0].date) == "2026-05-01");
  BOOST_TEST(*got[0].pageviews == 2);
  BOOST_TEST(got[0].connection_id == k_conn);
  BOOST_TEST(got[0].referrer == "chatgpt.com");
  BOOST_TEST(got[0].platform == "chatgpt");
  BOOST_TEST(got[0].list_version == "v1");
  BOOST_TEST(*got[0].purchase_revenue == 1.25);
  BOOST_TEST(*got[0].batch_id == "b");
  BOOST_TEST(got[1].page == "/b");
  BOOST_TEST(!got[1].pageviews.has_value());
}

BOOST_AUTO_TEST_CASE(the_same_identity_replaces_the_stored_row) {
  testing::temp_dir dir;
  auto d = std::move(*db::open({dir.path(), false}));
  ai_store s(*d);
  for (std::int64_t pv : {1, 5, 7}) {
    write_batch b;
    s.put_rows(b, 1, k_conn, {make_row("2026-05-20", "/a", pv)});
    BOOST_REQUIRE(d->write(b, true).ok());
  }
  int rows = 0;
  std::int64_t last = 0;
  BOOST_REQUIRE(s.scan_rows(1, 0, 100000, [&](const stored_ai_row& r) {
                   ++rows;
                   last = *r.pageviews;
                   return true;
                 }).ok());
  BOOST_TEST(rows == 1);
  BOOST_TEST(last == 7);
}

BOOST_AUTO_TEST_CASE(batch_records_and_connections_round_trip) {
  testing::temp_dir dir;
  auto d = std::move(*db::open({dir.path(), false}));
  ai_store s(*d);
  write_batch b;
  s.put_batch(b, 7, k_conn, "batch-1",
              batch_record{1234, domain::sha256("body"), R"({"accepted":1})"});
  domain::connection c{k_conn, 7, "GA4", domain::source_tool::ga4, 99, std::nullopt};
  s.put_connection(b, c);
  BOOST_REQUIRE(d->write(b, true).ok());
  auto rec = s.get_batch(7, k_conn, "batch-1");
  BOOST_REQUIRE(rec.ok());
  BOOST_REQUIRE(rec->has_value());
  BOOST_TEST((*rec)->created_at == 1234);
  BOOST_TEST((*rec)->body_digest == domain::sha256("body"));
  BOOST_TEST((*rec)->response == R"({"accepted":1})");
  BOOST_TEST(!s.get_batch(7, k_conn, "batch-2")->has_value());
  BOOST_TEST(!s.get_batch(8, k_conn, "batch-1")->has_value());
  auto conns = s.load_connections();
  BOOST_REQUIRE(conns.ok());
  BOOST_REQUIRE(conns->size() == 1u);
  BOOST_TEST(((*conns)[0] == c));
}

// Every field of a row comes back from the stored record (format 2), metrics null or not.
BOOST_AUTO_TEST_CASE(every_field_of_a_row_round_trips) {
  testing::temp_dir dir;
  auto d = std::move(*db::open({dir.path(), false}));
  ai_store s(*d);
  auto full = make_row("2026-05-20", "/full", 3);
  full.sessions = 0;
  full.transactions = 2;
  full.raw_page = "https://shop.example/full?x=1";
  auto sparse = make_row("2026-05-20", "/sparse", std::nullopt);
  sparse.purchase_revenue.reset();
  sparse.batch_id.reset();
  write_batch b;
  s.put_rows(b, 5, k_conn, {full, sparse});
  BOOST_REQUIRE(d->write(b, true).ok());
  std::vector<stored_ai_row> got;
  BOOST_REQUIRE(s.scan_rows(5, 0, 100000, [&](const stored_ai_row& r) {
                   got.push_back(r);
                   return true;
                 }).ok());
  BOOST_REQUIRE(got.size() == 2u);
  BOOST_TEST((static_cast<const domain::ai_row&>(got[0]) == full));
  // Decoded into the same object as the first: nothing of it may leak into the second.
  BOOST_TEST((static_cast<const domain::ai_row&>(got[1]) == sparse));
}

// A row exactly as release 0.2 stored it (value version 1, fixed layout) is read.
BOOST_AUTO_TEST_CASE(release_0_2_rows_are_read) {
  testing::temp_dir dir;
  auto d = std::move(*db::open({dir.path(), false}));
  std::string key;
  codec::put_fixed64_be(key, 9);
  auto day = *domain::parse_date("2026-05-20");
  codec::put_fixed32_be(key, static_cast<std::uint32_t>(day + (std::int64_t{1} << 31)));
  key += k_conn;
  codec::put_lpstr(key, "perplexity.ai");
  key += "/p";
  std::string value("\x01", 1);
  value.push_back(static_cast<char>(1 | 4 | 8 | 16));  // pageviews, transactions, revenue, batch
  codec::put_varint(value, 12);
  codec::put_varint(value, 1);
  double revenue = 19.5;
  std::uint64_t bits;
  std::memcpy(&bits, &revenue, sizeof bits);
  codec::put_fixed64(value, bits);
  codec::put_lpstr(value, "perplexity");
  codec::put_lpstr(value, "2026-01");
  codec::put_lpstr(value, "batch-7");
  codec::put_lpstr(value, "https://www.perplexity.ai/");
  codec::put_lpstr(value, "https://shop.example/p");
  codec::put_fixed64(value, 777);
  write_batch b;
  b.put(column::ai_rows, key, value);
  BOOST_REQUIRE(d->write(b, true).ok());
  std::vector<stored_ai_row> got;
  BOOST_REQUIRE(ai_store(*d)
                    .scan_rows(9, 0, 100000,
                               [&](const stored_ai_row& r) {
                                 got.push_back(r);
                                 return true;
                               })
                    .ok());
  BOOST_REQUIRE(got.size() == 1u);
  const auto& r = got[0];
  BOOST_TEST(r.date == day);
  BOOST_TEST(r.connection_id == k_conn);
  BOOST_TEST(r.referrer == "perplexity.ai");
  BOOST_TEST(r.page == "/p");
  BOOST_TEST(*r.pageviews == 12);
  BOOST_TEST(!r.sessions.has_value());
  BOOST_TEST(*r.transactions == 1);
  BOOST_TEST(*r.purchase_revenue == 19.5);
  BOOST_TEST(*r.batch_id == "batch-7");
  BOOST_TEST(r.platform == "perplexity");
  BOOST_TEST(r.list_version == "2026-01");
  BOOST_TEST(r.raw_referrer == "https://www.perplexity.ai/");
  BOOST_TEST(r.raw_page == "https://shop.example/p");
  BOOST_TEST(r.received_at == 777);
  // A truncated record is corruption, not a different row.
  write_batch cut;
  cut.put(column::ai_rows, key, value.substr(0, value.size() - 3));
  BOOST_REQUIRE(d->write(cut, true).ok());
  BOOST_TEST(!ai_store(*d).scan_rows(9, 0, 100000, [](const stored_ai_row&) { return true; }).ok());
}

BOOST_AUTO_TEST_SUITE_END()
