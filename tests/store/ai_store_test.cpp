#include "store/ai_store.hpp"

#include <boost/test/unit_test.hpp>

#include "domain/base/clock.hpp"
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
              make_row("2026-05-31", "/b", std::nullopt), make_row("2026-06-01", "/a", 4)},
             "v1", 1000);
  s.put_rows(b, 43, k_conn, {make_row("2026-05-10", "/other-brand", 9)}, "v1", 1000);
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
    s.put_rows(b, 1, k_conn, {make_row("2026-05-20", "/a", pv)}, "v1", 1000);
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

BOOST_AUTO_TEST_SUITE_END()
