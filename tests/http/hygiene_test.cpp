// Rule and input hygiene as a careless or hostile client tests it: public suffixes,
// Unicode whitespace, control characters and bidi overrides, whole numbers written as
// decimals, batch_id replays of the same rows serialized differently, the last admin key,
// and the meaning of a trailing dot in a prefix.

#include <boost/test/unit_test.hpp>
#include <string>

#include "tests/http/fixture.hpp"

using namespace referrald::testing;

namespace {

const std::string k_pt = "/passthrough-referrers?account_id=acme";
const std::string k_map = "/referrer-mappings?account_id=acme";

}  // namespace

BOOST_FIXTURE_TEST_SUITE(hygiene, server_fixture)

BOOST_AUTO_TEST_CASE(a_public_suffix_cannot_be_a_passthrough_domain) {
  auto c = client();
  for (const char* domain : {"co.uk", "github.io", "https://Blogspot.com/", "com.au"}) {
    auto r = c->post(k_pt, std::string(R"({"domain":")") + domain + R"(","utm_source":"s"})");
    BOOST_TEST(r.status == 400u, domain << ": " << r.body);
    BOOST_TEST(names_field(r, "domain"), domain);
    BOOST_TEST(r.body.find("public suffix") != std::string::npos, r.body);
  }
  // www. is not dropped when only a public suffix would remain.
  auto www = c->post(k_pt, R"({"domain":"www.github.io","utm_source":"s"})");
  BOOST_REQUIRE(www.status == 201u);
  BOOST_TEST(www.json()["data"]["domain"].GetString() == std::string("www.github.io"));
  auto site = c->post(k_pt, R"({"domain":"www.example.github.io","utm_source":"s"})");
  BOOST_TEST(site.json()["data"]["domain"].GetString() == std::string("example.github.io"));
}

BOOST_AUTO_TEST_CASE(a_public_suffix_cannot_be_an_exact_or_ends_with_pattern) {
  auto c = client();
  for (const char* type : {"exact", "ends_with"}) {
    auto r = c->post(k_map, std::string(R"({"referrer_pattern":"co.uk","match_type":")") + type +
                                R"(","utm_source":"s"})");
    BOOST_TEST(r.status == 400u, type);
    BOOST_TEST(names_field(r, "referrer_pattern"));
  }
  // A substring or a prefix is not a domain claim.
  BOOST_TEST(
      c->post(k_map, R"({"referrer_pattern":"co.uk","match_type":"contains","utm_source":"s"})")
          .status == 201u);
  // A patch that turns a pattern into a public suffix is refused too.
  auto m = c->post(
      k_map, R"({"referrer_pattern":"shop.co.uk","match_type":"ends_with","utm_source":"s"})");
  BOOST_REQUIRE(m.status == 201u);
  auto id = std::to_string(m.json()["data"]["id"].GetInt());
  auto p =
      c->patch("/referrer-mappings/" + id + "?account_id=acme", R"({"referrer_pattern":"co.uk"})");
  BOOST_TEST(p.status == 400u, p.body);
}

BOOST_AUTO_TEST_CASE(unicode_whitespace_is_trimmed) {
  auto c = client();
  // NBSP, ideographic space, em space and a BOM around the values.
  auto r = c->post(k_pt,
                   "{\"domain\":\"\xC2\xA0"
                   "pay.example.com\xE3\x80\x80\",\"utm_source\":\"\xE2\x80\x83"
                   "mirai\xEF\xBB\xBF\"}");
  BOOST_REQUIRE_MESSAGE(r.status == 201u, r.body);
  BOOST_TEST(r.json()["data"]["domain"].GetString() == std::string("pay.example.com"));
  BOOST_TEST(r.json()["data"]["utm_source"].GetString() == std::string("mirai"));
  auto blank = c->post(k_pt, "{\"domain\":\"b.example.com\",\"utm_source\":\"\xE3\x80\x80\"}");
  BOOST_TEST(blank.status == 400u);
  BOOST_TEST(names_field(blank, "utm_source"));
}

BOOST_AUTO_TEST_CASE(control_characters_and_bidi_overrides_are_refused_in_every_string_field) {
  auto c = client();
  struct probe {
    std::string path, body, field;
  };
  const std::vector<probe> probes = {
      {k_pt, R"({"domain":"a.example.com","utm_source":"a\u0000b"})", "utm_source"},
      {k_pt, R"({"domain":"a.example.com","utm_source":"s","utm_term":"x\u0007"})", "utm_term"},
      {k_pt, R"({"domain":"a.example.com","utm_source":"s","service_name":"\u202Eevil"})",
       "service_name"},
      {k_map, R"({"referrer_pattern":"p.example","utm_source":"s","label":"a\u2066b"})", "label"},
      {k_map, R"({"referrer_pattern":"p.example","utm_source":"s","description":"a\u0085b"})",
       "description"},
      {k_map, R"({"referrer_pattern":"p.example","utm_source":"s","utm_content":"a\nb"})",
       "utm_content"},
      {"/api-keys", R"({"name":"k\u202D","role":"viewer","accounts":["*"],"brands":[]})", "name"},
      {"/42/ai-referrals/connections", R"({"name":"g\u0001","source_tool":"ga4"})", "name"},
      {"/attribution/resolve?account_id=acme",
       R"({"landing_url":"https://h.example/","session":{"utm_source":"a\u0000"}})",
       "session.utm_source"},
  };
  for (const auto& p : probes) {
    auto r = c->post(p.path, p.body);
    BOOST_TEST(r.status == 400u, p.body << " -> " << r.body);
    BOOST_TEST(names_field(r, p.field), p.body << " -> " << r.body);
  }
}

BOOST_AUTO_TEST_CASE(push_rows_with_control_characters_are_rejected_by_row) {
  auto c = client();
  auto conn = c->post("/42/ai-referrals/connections", R"({"name":"ga4","source_tool":"ga4"})");
  std::string push = "/42/ai-referrals/connections/" +
                     std::string(conn.json()["data"]["id"].GetString()) + "/events";
  auto r = c->post(push, R"([
    {"date":"2026-11-20","raw_referrer_value":"chatgpt.com","raw_page_value":"/a\u0000b","pageviews":1},
    {"date":"2026-11-20","raw_referrer_value":"chatgpt.com","raw_page_value":"/c","pageviews":1,
     "batch_id":"b\u0000"}])");
  BOOST_REQUIRE(r.status == 200u);
  BOOST_TEST(r.json()["rejected"].GetInt() == 2);
  BOOST_TEST(r.body.find("raw_page_value must not contain U+0000") != std::string::npos, r.body);
  BOOST_TEST(r.body.find("batch_id must not contain U+0000") != std::string::npos, r.body);
}

BOOST_AUTO_TEST_CASE(whole_numbers_written_as_decimals_are_integers) {
  auto c = client();
  auto one = c->post(k_map, R"({"referrer_pattern":"a.example","utm_source":"s","priority":1.0})");
  BOOST_REQUIRE_MESSAGE(one.status == 201u, one.body);
  BOOST_TEST(one.json()["data"]["priority"].GetInt() == 1);
  auto hundred =
      c->post(k_map, R"({"referrer_pattern":"b.example","utm_source":"s","priority":1e2})");
  BOOST_TEST(hundred.json()["data"]["priority"].GetInt() == 100);
  auto half = c->post(k_map, R"({"referrer_pattern":"c.example","utm_source":"s","priority":1.5})");
  BOOST_TEST(half.status == 400u);
  BOOST_TEST(names_field(half, "priority"));
  auto huge =
      c->post(k_map, R"({"referrer_pattern":"d.example","utm_source":"s","priority":1e300})");
  BOOST_TEST(huge.status == 400u);

  auto conn = c->post("/42/ai-referrals/connections", R"({"name":"ga4","source_tool":"ga4"})");
  std::string push = "/42/ai-referrals/connections/" +
                     std::string(conn.json()["data"]["id"].GetString()) + "/events";
  auto r = c->post(push, R"([
    {"date":"2026-11-20","raw_referrer_value":"chatgpt.com","raw_page_value":"/a","pageviews":12.0,"sessions":9e0},
    {"date":"2026-11-20","raw_referrer_value":"chatgpt.com","raw_page_value":"/b","pageviews":1.5}])");
  BOOST_TEST(r.json()["accepted"].GetInt() == 1);
  BOOST_TEST(r.json()["rejected"].GetInt() == 1);
  auto report = c->get("/42/ai-referrals/report?from=2026-11-20&to=2026-11-20");
  BOOST_TEST(report.json()["data"]["totals"]["pageviews"].GetInt() == 12);
}

// 1e-400 underflowed to the double 0 and was taken as the integer 0.
BOOST_AUTO_TEST_CASE(a_number_that_only_rounds_to_an_integer_is_not_one) {
  auto c = client();
  for (const char* n : {"1e-400", "0.5e-323", "1.0000000000000000001", "2.5", "-1e-400"}) {
    auto r = c->post(
        k_map,
        std::string(R"({"referrer_pattern":"e.example","utm_source":"s","priority":)") + n + "}");
    BOOST_TEST(r.status == 400u, n << ": " << r.body);
    BOOST_TEST(names_field(r, "priority"), n);
  }
  // An integer value in exponent form with a fraction that cancels out is one.
  auto r = c->post(k_map, R"({"referrer_pattern":"f.example","utm_source":"s","priority":100e-2})");
  BOOST_REQUIRE_MESSAGE(r.status == 201u, r.body);
  BOOST_TEST(r.json()["data"]["priority"].GetInt() == 1);

  auto conn = c->post("/42/ai-referrals/connections", R"({"name":"ga4","source_tool":"ga4"})");
  std::string push = "/42/ai-referrals/connections/" +
                     std::string(conn.json()["data"]["id"].GetString()) + "/events";
  auto pushed = c->post(push, R"([
    {"date":"2026-11-20","raw_referrer_value":"chatgpt.com","raw_page_value":"/a","pageviews":1e-400},
    {"date":"2026-11-20","raw_referrer_value":"chatgpt.com","raw_page_value":"/b","sessions":9007199254740993},
    {"date":"2026-11-20","raw_referrer_value":"chatgpt.com","raw_page_value":"/c","transactions":0.0e5}])");
  BOOST_TEST(pushed.json()["accepted"].GetInt() == 2, pushed.body);
  BOOST_TEST(pushed.json()["rejected"].GetInt() == 1, pushed.body);
  BOOST_TEST(pushed.body.find("row 0: pageviews") != std::string::npos, pushed.body);
  auto report = c->get("/42/ai-referrals/report?from=2026-11-20&to=2026-11-20");
  // Exactly the integer sent, not the double nearest to it.
  BOOST_TEST(report.json()["data"]["totals"]["sessions"].GetInt64() == 9007199254740993);
}

BOOST_AUTO_TEST_CASE(a_batch_id_replay_compares_rows_not_bytes) {
  auto c = client();
  auto conn = c->post("/42/ai-referrals/connections", R"({"name":"ga4","source_tool":"ga4"})");
  std::string push = "/42/ai-referrals/connections/" +
                     std::string(conn.json()["data"]["id"].GetString()) + "/events";
  auto first = c->post(push, R"([{"date":"2026-11-20","raw_referrer_value":"chatgpt.com",)"
                             R"("raw_page_value":"/a","pageviews":12,"batch_id":"b1"}])");
  BOOST_REQUIRE(first.status == 200u);
  // The same row: other key order, whitespace, number spelling and escapes.
  auto same = c->post(push,
                      "[ {\"batch_id\" : \"\\u0062\\u0031\", \"pageviews\": 12.0,\n"
                      "  \"raw_page_value\":\"\\/a\",\"raw_referrer_value\":\"chatgpt.com\","
                      "\"date\":\"2026-11-20\"} ]");
  BOOST_TEST(same.status == 200u, same.body);
  BOOST_TEST(same.body == first.body);
  auto different = c->post(push, R"([{"date":"2026-11-20","raw_referrer_value":"chatgpt.com",)"
                                 R"("raw_page_value":"/a","pageviews":13,"batch_id":"b1"}])");
  BOOST_TEST(different.status == 409u);
  auto report = c->get("/42/ai-referrals/report?from=2026-11-20&to=2026-11-20");
  BOOST_TEST(report.json()["data"]["totals"]["pageviews"].GetInt() == 12);
}

BOOST_AUTO_TEST_CASE(the_last_full_admin_key_cannot_be_revoked) {
  auto c = client();
  auto listed = c->get("/api-keys");
  BOOST_REQUIRE(listed.status == 200u);
  auto r = c->del("/api-keys/1");
  BOOST_TEST(r.status == 409u, r.body);
  BOOST_TEST(error_code(r) == "conflict");
  BOOST_TEST(r.body.find("last active admin key") != std::string::npos, r.body);
  BOOST_TEST(c->get("/api-keys/1").status == 200u);  // still there, still working
  // A scoped admin or an editor does not count as a replacement.
  make_key("admin", R"(["acme"])", R"(["*"])");
  make_key("editor");
  BOOST_TEST(c->del("/api-keys/1").status == 409u);
  // With a second full admin, either one may go, but not both.
  std::string second = make_key("admin");
  BOOST_TEST(c->del("/api-keys/1").status == 204u);
  c->set_token(second);
  auto self = c->get("/api-keys");
  std::int64_t second_id = 0;
  auto keys = self.json();
  for (const auto& k : keys["data"]["keys"].GetArray()) {
    if (k["role"].GetString() == std::string("admin") &&
        k["accounts"][0].GetString() == std::string("*"))
      second_id = k["id"].GetInt64();
  }
  BOOST_REQUIRE(second_id != 0);
  BOOST_TEST(c->del("/api-keys/" + std::to_string(second_id)).status == 409u);
}

BOOST_AUTO_TEST_CASE(a_trailing_dot_in_a_starts_with_pattern_is_kept) {
  auto c = client();
  auto r = c->post(
      k_map, R"({"referrer_pattern":"News.","match_type":"starts_with","utm_source":"news"})");
  BOOST_REQUIRE(r.status == 201u);
  BOOST_TEST(r.json()["data"]["referrer_pattern"].GetString() == std::string("news."));
  auto miss =
      c->post("/attribution/resolve?account_id=acme",
              R"({"referrer":"https://newsroom.example/","landing_url":"https://h.example/"})");
  BOOST_TEST(miss.json()["data"]["reason"].GetString() == std::string("referral"));
  auto hit = c->post("/attribution/resolve?account_id=acme",
                     R"({"referrer":"https://news.example/","landing_url":"https://h.example/"})");
  BOOST_TEST(hit.json()["data"]["reason"].GetString() == std::string("mapping"));
}

BOOST_AUTO_TEST_CASE(a_backslash_in_the_referrer_does_not_borrow_a_passthrough_host) {
  auto c = client();
  BOOST_REQUIRE(c->post(k_pt, R"({"domain":"paypal.com","utm_source":"paypal"})").status == 201u);
  auto r =
      c->post("/attribution/resolve?account_id=acme",
              R"({"referrer":"https://evil.com\\@paypal.com/","landing_url":"https://h.example/",)"
              R"("session":{"utm_source":"ad"}})");
  BOOST_REQUIRE(r.status == 200u);
  BOOST_TEST(r.json()["data"]["reason"].GetString() == std::string("referral"));
  BOOST_TEST(r.json()["data"]["referrer_host"].GetString() == std::string("evil.com"));
}

BOOST_AUTO_TEST_CASE(an_unreadable_referrer_never_loses_the_visit) {
  auto c = client();
  auto r = c->post("/attribution/resolve-batch?account_id=acme", R"({"visits":[
    {"referrer":"about:blank","landing_url":"https://h.example/"},
    {"referrer":"http://[]/","landing_url":"https://h.example/?utm_source=mail"},
    {"referrer":"https://xn--ls8h.la/","landing_url":"https://h.example/"}]})");
  BOOST_REQUIRE(r.status == 200u);
  auto d = r.json();
  const auto& results = d["data"]["results"];
  BOOST_TEST(results[0]["reason"].GetString() == std::string("direct"));
  BOOST_TEST(results[0]["referrer_host"].IsNull());
  BOOST_TEST(results[0]["warnings"].Size() == 1u);
  BOOST_TEST(results[1]["reason"].GetString() == std::string("utm"));
  BOOST_TEST(results[2]["reason"].GetString() == std::string("referral"));
  BOOST_TEST(results[2]["referrer_host"].GetString() == std::string("xn--ls8h.la"));
  BOOST_TEST(results[2]["warnings"].Size() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
