#include "domain/ai/ai_referrals.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <boost/test/unit_test.hpp>

#include "domain/ai/ai_report.hpp"
#include "domain/ai/connection.hpp"
#include "domain/base/clock.hpp"
#include "tests/support/json_body.hpp"

using namespace referrald::domain;
using referrald::testing::parse;

namespace {

push_outcome push(const std::string& body) {
  auto doc = parse(body);
  auto r = validate_push(doc, ai_platform_list::builtin(), 1000);
  BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.err().message));
  return std::move(*r);
}

std::string row(const std::string& extra) {
  return R"({"date":"2026-05-20","raw_referrer_value":"chatgpt.com","raw_page_value":"/a")" +
         (extra.empty() ? std::string() : "," + extra) + "}";
}

// The single error of a one-row push, or "" when the row was accepted.
std::string problem(const std::string& one_row) {
  auto o = push("[" + one_row + "]");
  return o.errors.empty() ? std::string() : o.errors.front();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ai_referrals)

BOOST_AUTO_TEST_CASE(a_valid_row_is_normalized) {
  auto o = push(R"([{"date":"2026-05-20","raw_referrer_value":" https://www.ChatGPT.com/c/1 ",
      "raw_page_value":"https://shop.example/blog/launch?utm=1#top","pageviews":3,"sessions":2,
      "transactions":0,"purchase_revenue":12.5,"batch_id":"b-1"}])");
  BOOST_REQUIRE(o.rows.size() == 1u);
  const auto& r = o.rows[0];
  BOOST_TEST(r.date == *parse_date("2026-05-20"));
  BOOST_TEST(r.referrer == "chatgpt.com");
  BOOST_TEST(r.platform == "chatgpt");
  BOOST_TEST(r.raw_referrer == "https://www.ChatGPT.com/c/1");
  BOOST_TEST(r.page == "/blog/launch");
  BOOST_TEST(*r.pageviews == 3);
  BOOST_TEST(*r.transactions == 0);
  BOOST_TEST(*r.purchase_revenue == 12.5);
  BOOST_TEST(*r.batch_id == "b-1");
  BOOST_TEST(o.accepted == 1u);
  BOOST_TEST(o.rejected == 0u);
  BOOST_TEST(*o.batch_id == "b-1");
}

BOOST_AUTO_TEST_CASE(dates_must_be_real_calendar_days) {
  BOOST_TEST(
      problem(R"({"date":"2024-02-29","raw_referrer_value":"claude.ai","raw_page_value":"/"})") ==
      "");
  BOOST_TEST(
      problem(R"({"date":"2026-02-29","raw_referrer_value":"claude.ai","raw_page_value":"/"})") ==
      "row 0: date must be a real calendar date in the form YYYY-MM-DD");
  for (const char* d : {"2026-13-01", "2026-5-1", "20260501", "2026-05-01T00:00:00Z", ""}) {
    BOOST_TEST(problem(std::string(R"({"date":")") + d +
                       R"(","raw_referrer_value":"claude.ai","raw_page_value":"/"})") != "",
               d);
  }
  BOOST_TEST(
      problem(R"({"date":20260501,"raw_referrer_value":"claude.ai","raw_page_value":"/"})") ==
      "row 0: date must be a string, not a number");
  BOOST_TEST(problem(R"({"raw_referrer_value":"claude.ai","raw_page_value":"/"})") ==
             "row 0: date is required");
}

BOOST_AUTO_TEST_CASE(string_lengths_are_checked_in_code_points) {
  std::string r512 = "chatgpt.com/" + std::string(500, 'x');
  std::string r513 = r512 + "x";
  BOOST_TEST(problem(R"({"date":"2026-05-20","raw_referrer_value":")" + r512 +
                     R"(","raw_page_value":"/"})") == "");
  BOOST_TEST(problem(R"({"date":"2026-05-20","raw_referrer_value":")" + r513 +
                     R"(","raw_page_value":"/"})") ==
             "row 0: raw_referrer_value must be at most 512 characters long");
  BOOST_TEST(problem(R"({"date":"2026-05-20","raw_referrer_value":"  ","raw_page_value":"/"})") ==
             "row 0: raw_referrer_value must not be empty");
  std::string page2048 = "/" + std::string(2047, 'p');
  BOOST_TEST(problem(row("").replace(row("").find("\"/a\""), 4, "\"" + page2048 + "\"")) == "");
  BOOST_TEST(problem(row("").replace(row("").find("\"/a\""), 4, "\"" + page2048 + "p\"")) ==
             "row 0: raw_page_value must be at most 2048 characters long");
  std::string umlauts;
  for (int i = 0; i < 2048; ++i)
    umlauts += "\xC3\xBC";  // 2048 code points, 4096 bytes
  BOOST_TEST(problem(row("").replace(row("").find("\"/a\""), 4, "\"" + umlauts + "\"")) == "");
  BOOST_TEST(problem(row(R"("batch_id":")" + std::string(128, 'b') + "\"")) == "");
  BOOST_TEST(problem(row(R"("batch_id":")" + std::string(129, 'b') + "\"")) ==
             "row 0: batch_id must be at most 128 characters long");
  BOOST_TEST(problem(row(R"("batch_id":7)")) ==
             "row 0: batch_id must be a string or null, not a number");
  BOOST_TEST(problem(row(R"("raw_page_value":5)")) ==
             "row 0: raw_page_value is given more than once");
  BOOST_TEST(
      problem(R"({"date":"2026-05-20","raw_referrer_value":"chatgpt.com","raw_page_value":5})") ==
      "row 0: raw_page_value must be a string, not a number");
}

BOOST_AUTO_TEST_CASE(metrics_are_non_negative_numbers_or_null) {
  for (const char* f : {"pageviews", "sessions", "transactions"}) {
    std::string name(f);
    BOOST_TEST(problem(row("\"" + name + "\":0")) == "");
    BOOST_TEST(problem(row("\"" + name + "\":null")) == "");
    BOOST_TEST(problem(row("\"" + name + "\":-1")) ==
               "row 0: " + name + " must be a whole number >= 0 or null");
    BOOST_TEST(problem(row("\"" + name + "\":1.5")) ==
               "row 0: " + name + " must be a whole number >= 0 or null");
    BOOST_TEST(problem(row("\"" + name + "\":\"3\"")) ==
               "row 0: " + name + " must be an integer or null, not a string");
  }
  BOOST_TEST(problem(row(R"("purchase_revenue":0.01)")) == "");
  BOOST_TEST(problem(row(R"("purchase_revenue":7)")) == "");
  BOOST_TEST(problem(row(R"("purchase_revenue":null)")) == "");
  BOOST_TEST(problem(row(R"("purchase_revenue":-0.01)")) ==
             "row 0: purchase_revenue must be a number >= 0 or null");
  BOOST_TEST(problem(row(R"("purchase_revenue":"9.99")")) ==
             "row 0: purchase_revenue must be a number or null, not a string");
}

BOOST_AUTO_TEST_CASE(referrers_off_the_allow_list_and_unknown_fields_are_rejected) {
  BOOST_TEST(
      problem(R"({"date":"2026-05-20","raw_referrer_value":"google.com","raw_page_value":"/"})")
          .find("row 0: raw_referrer_value 'google.com' is not on the AI platform allow-list") ==
      0u);
  BOOST_TEST(problem(row(R"("country":"de")")) == "row 0: country is not a known field");
  auto not_object = push(R"([1, "x", null])");
  BOOST_TEST(not_object.rejected == 3u);
  BOOST_TEST(not_object.errors[0] == "row 0: row must be an object, not a number");
}

BOOST_AUTO_TEST_CASE(good_and_bad_rows_of_one_push_are_counted_apart) {
  auto o = push("[" + row("\"pageviews\":1") + "," +
                R"({"date":"bad","raw_referrer_value":"chatgpt.com","raw_page_value":"/b"})" + "," +
                row("\"pageviews\":2").replace(row("").find("/a"), 2, "/c") + "]");
  BOOST_TEST(o.accepted == 2u);
  BOOST_TEST(o.rejected == 1u);
  BOOST_REQUIRE(o.errors.size() == 1u);
  BOOST_TEST(o.errors[0].rfind("row 1: ", 0) == 0u);
  BOOST_TEST(
      push_response_json(o) ==
      R"({"accepted":2,"rejected":1,"errors":["row 1: date must be a real calendar date in the form YYYY-MM-DD"]})");
}

BOOST_AUTO_TEST_CASE(errors_stop_at_one_hundred_then_say_how_many_more) {
  std::string body = "[";
  for (int i = 0; i < 250; ++i) {
    if (i > 0) body += ',';
    body += R"({"date":"x","raw_referrer_value":"chatgpt.com","raw_page_value":"/"})";
  }
  body += "]";
  auto o = push(body);
  BOOST_TEST(o.rejected == 250u);
  BOOST_REQUIRE(o.errors.size() == 101u);
  BOOST_TEST(o.errors[99].rfind("row 99: ", 0) == 0u);
  BOOST_TEST(o.errors[100] == "... and 150 more");
}

BOOST_AUTO_TEST_CASE(the_last_occurrence_of_an_identity_wins) {
  auto o = push(
      "[" + row("\"pageviews\":1") + "," +
      R"({"date":"2026-05-20","raw_referrer_value":"https://chatgpt.com/x","raw_page_value":"https://a.example/a?q=1","pageviews":9})" +
      "," + row("\"pageviews\":2").replace(row("").find("2026-05-20"), 10, "2026-05-21") + "]");
  BOOST_TEST(o.accepted == 3u);
  BOOST_REQUIRE(o.rows.size() == 2u);
  BOOST_TEST(*o.rows[0].pageviews == 9);
  BOOST_TEST(*o.rows[1].pageviews == 2);
}

BOOST_AUTO_TEST_CASE(a_batch_id_counts_only_when_every_row_carries_the_same_one) {
  BOOST_TEST(
      *push("[" + row(R"("batch_id":"b")") + "," + row(R"("batch_id":"b")") + "]").batch_id == "b");
  BOOST_TEST(!push("[" + row(R"("batch_id":"b")") + "," + row(R"("batch_id":"c")") + "]").batch_id);
  BOOST_TEST(!push("[" + row(R"("batch_id":"b")") + "," + row("") + "]").batch_id);
  BOOST_TEST(!push("[" + row(R"("batch_id":"")") + "]").batch_id);
  BOOST_TEST(!push("[" + row(R"("batch_id":null)") + "]").batch_id);
}

BOOST_AUTO_TEST_CASE(the_body_as_a_whole_must_be_an_array_of_one_to_ten_thousand_rows) {
  auto bad = [](const std::string& body) {
    auto doc = parse(body);
    auto r = validate_push(doc, ai_platform_list::builtin(), 1000);
    return !r.ok() && r.err().details.size() == 1u && r.err().details[0].field == "body";
  };
  BOOST_TEST(bad("{}"));
  BOOST_TEST(bad("[]"));
  BOOST_TEST(bad("\"rows\""));
  std::string big = "[";
  for (int i = 0; i < 10001; ++i)
    big += (i ? ",1" : "1");
  big += "]";
  BOOST_TEST(bad(big));
}

BOOST_AUTO_TEST_CASE(pages_keep_only_the_path_of_full_urls) {
  BOOST_TEST(normalize_page("https://site.example/blog/x?utm_source=a#top") == "/blog/x");
  BOOST_TEST(normalize_page("http://site.example") == "/");
  BOOST_TEST(normalize_page("  /blog/x?keep=1  ") == "/blog/x?keep=1");
  BOOST_TEST(normalize_page("Home Page") == "Home Page");
  BOOST_TEST(normalize_page("site.example/blog") == "site.example/blog");
}

BOOST_AUTO_TEST_CASE(ulids_are_26_crockford_characters_that_sort_by_time) {
  auto a = new_ulid(1700000000000);
  auto b = new_ulid(1700000000001);
  BOOST_TEST(a.size() == 26u);
  BOOST_TEST(a < b);
  BOOST_TEST(*parse_ulid(a) == a);
  std::string lower = a;
  for (auto& ch : lower)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  BOOST_TEST(*parse_ulid(lower) == a);
  BOOST_TEST(!parse_ulid(a.substr(1)));
  BOOST_TEST(!parse_ulid("8" + a.substr(1)));  // more than 128 bits
  BOOST_TEST(!parse_ulid(a.substr(0, 25) + "U"));
  BOOST_TEST(new_ulid(0).substr(0, 10) == "0000000000");
}

BOOST_AUTO_TEST_CASE(generated_ulids_sort_in_the_order_they_were_made) {
  ulid_generator ids;
  std::vector<std::string> made;
  for (int i = 0; i < 1000; ++i)
    made.push_back(ids.next(1700000000000 + i / 100));  // 100 ids per millisecond
  made.push_back(ids.next(1600000000000));              // the clock went back
  for (std::size_t i = 1; i < made.size(); ++i)
    BOOST_TEST(made[i - 1] < made[i], "id " << i);
  BOOST_TEST(made[1].substr(0, 10) == made[0].substr(0, 10));  // same millisecond

  // After a restart, ids made before it are observed: later ids are still greater.
  ulid_generator restarted;
  restarted.observe(made.back());
  restarted.observe(made.front());  // an older one changes nothing
  BOOST_TEST(restarted.next(1600000000000) > made.back());
  BOOST_TEST(new_ulid(1600000000000) < made.back());
}

BOOST_AUTO_TEST_CASE(report_sums_leave_nulls_out_and_report_null_when_nothing_was_known) {
  report_builder b(report_grouping::platform);
  b.add(1, "chatgpt", "/a", {1, std::nullopt, std::nullopt, 2.5});
  b.add(2, "chatgpt", "/b", {2, std::nullopt, 0, std::nullopt});
  b.add(2, "claude", "/a", {std::nullopt, 4, std::nullopt, std::nullopt});
  auto doc = parse(b.json(42, "1970-01-02", "1970-01-03", std::nullopt));
  const auto& g = doc["groups"];
  BOOST_REQUIRE(g.Size() == 2u);
  BOOST_TEST(g[0]["platform"].GetString() == std::string("chatgpt"));
  BOOST_TEST(g[0]["rows"].GetInt() == 2);
  BOOST_TEST(g[0]["pageviews"].GetInt() == 3);
  BOOST_TEST(g[0]["sessions"].IsNull());
  BOOST_TEST(g[0]["transactions"].GetInt() == 0);
  BOOST_TEST(g[0]["purchase_revenue"].GetDouble() == 2.5);
  BOOST_TEST(g[1]["pageviews"].IsNull());
  BOOST_TEST(doc["totals"]["rows"].GetInt() == 3);
  BOOST_TEST(doc["totals"]["sessions"].GetInt() == 4);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(connection_storage)

BOOST_AUTO_TEST_CASE(connections_stored_by_release_0_2_still_read_and_new_ones_are_tagged) {
  referrald::domain::connection c;
  c.id = "01M80S630S1VCJAGMGT08MEVED";
  c.brand_id = 42;
  c.name = "GA4 \"export\"";
  c.source_tool = referrald::domain::source_tool::adobe;
  c.created_at = 1763800000123;
  // What release 0.2 stored: the API JSON.
  const std::string v1 =
      R"({"id":"01M80S630S1VCJAGMGT08MEVED","brand_id":42,"name":"GA4 \"export\"",)"
      R"("source_tool":"adobe","created_at":"2025-11-22T08:26:40.123Z"})";
  auto old = referrald::domain::decode_stored_connection(v1, false);
  BOOST_REQUIRE(old.ok());
  BOOST_TEST((*old == c));
  auto deleted_v1 = referrald::domain::decode_stored_connection(
      v1.substr(0, v1.size() - 1) + R"(,"deleted_at":"2025-11-22T08:26:41.000Z"})", false);
  BOOST_REQUIRE(deleted_v1.ok());
  BOOST_TEST((deleted_v1->deleted_at == std::optional<std::int64_t>(1763800001000)));
  // Tagged now, deleted or not; the API JSON leaves deleted_at out while there is none.
  for (auto deleted : {std::optional<std::int64_t>(), std::optional<std::int64_t>(1763800009000)}) {
    c.deleted_at = deleted;
    auto stored = referrald::domain::encode_stored_connection(c);
    BOOST_TEST(stored.find('{') == std::string::npos);
    auto back = referrald::domain::decode_stored_connection(stored, true);
    BOOST_REQUIRE(back.ok());
    BOOST_TEST((*back == c));
    rapidjson::StringBuffer buf;
    referrald::domain::json_writer w(buf);
    referrald::domain::write_json(w, c);
    BOOST_TEST((std::string(buf.GetString()).find("deleted_at") != std::string::npos) ==
               deleted.has_value());
  }
  c.deleted_at.reset();
  rapidjson::StringBuffer buf;
  referrald::domain::json_writer w(buf);
  referrald::domain::write_json(w, c);
  BOOST_TEST(buf.GetString() == v1);
}

BOOST_AUTO_TEST_SUITE_END()
