// The Passthrough Referrers API end to end (docs/api-guide.md, "Passthrough referrers").

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <thread>

#include "tests/http/fixture.hpp"

using namespace referrald::testing;

namespace {

const std::string k_base = "/passthrough-referrers?account_id=acme";

std::string item(int id) {
  return "/passthrough-referrers/" + std::to_string(id) + "?account_id=acme";
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(passthrough_api, server_fixture)

BOOST_AUTO_TEST_CASE(create_returns_201_with_the_full_object_and_defaults) {
  auto c = client();
  auto r =
      c->post(k_base, R"({"domain":"https://Booking.Mirai.com/book?x=1","utm_source":"mirai"})");
  BOOST_TEST(r.status == 201u);
  auto d = r.json();
  BOOST_TEST(d["success"].GetBool());
  const auto& o = d["data"];
  BOOST_TEST(o["id"].GetInt64() == 1);
  BOOST_TEST(o["account_id"].GetString() == std::string("acme"));
  BOOST_TEST(o["domain"].GetString() == std::string("booking.mirai.com"));
  BOOST_TEST(o["utm_source"].GetString() == std::string("mirai"));
  BOOST_TEST(o["utm_medium"].GetString() == std::string("passthrough"));
  BOOST_TEST(o["utm_campaign"].GetString() == std::string(""));
  BOOST_TEST(o["utm_term"].GetString() == std::string(""));
  BOOST_TEST(o["service_name"].IsNull());
  BOOST_TEST(o["is_active"].GetBool());
  BOOST_TEST(o["created_at"].GetString() == o["updated_at"].GetString());
  std::string ts = o["created_at"].GetString();
  BOOST_TEST(ts.size() == 24u);
  BOOST_TEST(ts.back() == 'Z');
  BOOST_TEST(o.MemberCount() == 11u);
}

BOOST_AUTO_TEST_CASE(list_counts_total_and_active_independently_of_the_filter) {
  auto c = client();
  c->post(k_base, R"({"domain":"a.example.com","utm_source":"s"})");
  c->post(k_base, R"({"domain":"b.example.com","utm_source":"s","is_active":false})");
  c->post(k_base, R"({"domain":"c.example.com","utm_source":"s"})");
  auto active = c->get(k_base);
  BOOST_TEST(active.status == 200u);
  auto d = active.json();
  BOOST_TEST(d["success"].GetBool());
  BOOST_TEST(d["data"]["referrers"].Size() == 2u);
  BOOST_TEST(d["data"]["total"].GetInt() == 3);
  BOOST_TEST(d["data"]["active_count"].GetInt() == 2);
  auto all = c->get(k_base + "&include_inactive=true").json();
  BOOST_TEST(all["data"]["referrers"].Size() == 3u);
  BOOST_TEST(all["data"]["total"].GetInt() == 3);
  BOOST_TEST(all["data"]["active_count"].GetInt() == 2);
  // Ordered by id.
  BOOST_TEST(all["data"]["referrers"][0]["id"].GetInt() == 1);
  BOOST_TEST(all["data"]["referrers"][2]["id"].GetInt() == 3);
  auto empty = c->get("/passthrough-referrers?account_id=empty").json();
  BOOST_TEST(empty["data"]["referrers"].Size() == 0u);
  BOOST_TEST(empty["data"]["total"].GetInt() == 0);
}

BOOST_AUTO_TEST_CASE(a_duplicate_normalized_domain_is_409) {
  auto c = client();
  BOOST_REQUIRE(c->post(k_base, R"({"domain":"paypal.com","utm_source":"s"})").status == 201u);
  for (const char* d : {"paypal.com", "PAYPAL.COM", "https://www.paypal.com/checkout",
                        "user@paypal.com:443", "paypal.com."}) {
    auto r = c->post(k_base, std::string(R"({"utm_source":"s","domain":")") + d + "\"}");
    BOOST_TEST(r.status == 409u, d);
    BOOST_TEST(error_code(r) == "conflict");
    BOOST_TEST(names_field(r, "domain"));
  }
  // Inactive rules hold their domain too.
  BOOST_REQUIRE(
      c->post(k_base, R"({"domain":"x.example.com","utm_source":"s","is_active":false})").status ==
      201u);
  BOOST_TEST(c->post(k_base, R"({"domain":"x.example.com","utm_source":"s"})").status == 409u);
  // A subdomain is a different domain.
  BOOST_TEST(c->post(k_base, R"({"domain":"secure.paypal.com","utm_source":"s"})").status == 201u);
}

BOOST_AUTO_TEST_CASE(internationalized_domains_are_stored_as_punycode) {
  auto c = client();
  auto r = c->post(k_base,
                   "{\"domain\":\"B\xC3\xBC"
                   "cher.de\",\"utm_source\":\"s\"}");
  BOOST_TEST(r.status == 201u);
  BOOST_TEST(r.json()["data"]["domain"].GetString() == std::string("xn--bcher-kva.de"));
  BOOST_TEST(c->post(k_base, R"({"domain":"xn--bcher-kva.de","utm_source":"s"})").status == 409u);
}

BOOST_AUTO_TEST_CASE(every_field_is_validated_and_named) {
  auto c = client();
  struct bad_case {
    std::string body;
    std::string field;
  };
  std::string s256(256, 'x'), s101(101, 'x');
  std::vector<bad_case> cases = {
      {R"({"utm_source":"s"})", "domain"},
      {R"({"domain":"a.com"})", "utm_source"},
      {R"({"domain":"","utm_source":"s"})", "domain"},
      {R"({"domain":"   ","utm_source":"s"})", "domain"},
      {R"({"domain":"localhost","utm_source":"s"})", "domain"},
      {R"({"domain":"bad_host.com","utm_source":"s"})", "domain"},
      {R"({"domain":"https://","utm_source":"s"})", "domain"},
      {R"({"domain":")" + std::string(256, 'a') + R"(","utm_source":"s"})", "domain"},
      {R"({"domain":7,"utm_source":"s"})", "domain"},
      {R"({"domain":"a.com","utm_source":""})", "utm_source"},
      {R"({"domain":"a.com","utm_source":")" + s256 + R"("})", "utm_source"},
      {R"({"domain":"a.com","utm_source":null})", "utm_source"},
      {R"({"domain":"a.com","utm_source":"s","utm_medium":")" + s101 + R"("})", "utm_medium"},
      {R"({"domain":"a.com","utm_source":"s","utm_medium":null})", "utm_medium"},
      {R"({"domain":"a.com","utm_source":"s","utm_campaign":")" + s256 + R"("})", "utm_campaign"},
      {R"({"domain":"a.com","utm_source":"s","utm_term":")" + s256 + R"("})", "utm_term"},
      {R"({"domain":"a.com","utm_source":"s","utm_term":5})", "utm_term"},
      {R"({"domain":"a.com","utm_source":"s","service_name":")" + s101 + R"("})", "service_name"},
      {R"({"domain":"a.com","utm_source":"s","service_name":false})", "service_name"},
      {R"({"domain":"a.com","utm_source":"s","is_active":"true"})", "is_active"},
      {R"({"domain":"a.com","utm_source":"s","is_active":null})", "is_active"},
      {R"({"domain":"a.com","utm_source":"s","id":5})", "id"},
      {R"({"domain":"a.com","utm_source":"s","account_id":"acme"})", "account_id"},
      {R"({"domain":"a.com","utm_source":"s","created_at":"2025-01-01T00:00:00Z"})", "created_at"},
      {R"({"domain":"a.com","utm_source":"s","updated_at":"2025-01-01T00:00:00Z"})", "updated_at"},
      {R"({"domain":"a.com","utm_source":"s","utm_content":"x"})", "utm_content"},
      {R"({"domain":"a.com","utm_source":"s","domain":"b.com"})", "domain"},
  };
  for (const auto& bc : cases) {
    auto r = c->post(k_base, bc.body);
    BOOST_TEST(r.status == 400u, bc.body);
    BOOST_TEST(error_code(r) == "validation_failed", bc.body);
    BOOST_TEST(names_field(r, bc.field), bc.body << " should name " << bc.field);
  }
  auto not_object = c->post(k_base, R"(["a.com"])");
  BOOST_TEST(not_object.status == 400u);
  BOOST_TEST(error_code(not_object) == "validation_failed");
  // Nothing was created by any of these.
  BOOST_TEST(c->get(k_base + "&include_inactive=1").json()["data"]["total"].GetInt() == 0);
}

BOOST_AUTO_TEST_CASE(lengths_count_code_points_after_trimming) {
  auto c = client();
  std::string hundred_umlauts;
  for (int i = 0; i < 100; ++i)
    hundred_umlauts += "\xC3\xBC";
  auto ok = c->post(k_base, R"({"domain":"a.example.com","utm_source":"  s  ","service_name":")" +
                                hundred_umlauts + R"("})");
  BOOST_TEST(ok.status == 201u, ok.body);
  BOOST_TEST(ok.json()["data"]["utm_source"].GetString() == std::string("s"));
  auto too_long = c->post(k_base, R"({"domain":"b.example.com","utm_source":"s","service_name":")" +
                                      hundred_umlauts + "\xC3\xBC\"}");
  BOOST_TEST(too_long.status == 400u);
}

BOOST_AUTO_TEST_CASE(get_returns_the_object_or_404) {
  auto c = client();
  c->post(k_base, R"({"domain":"a.example.com","utm_source":"s","service_name":"Svc"})");
  auto r = c->get(item(1));
  BOOST_TEST(r.status == 200u);
  BOOST_TEST(r.json()["data"]["service_name"].GetString() == std::string("Svc"));
  BOOST_TEST(c->get(item(2)).status == 404u);
  BOOST_TEST(error_code(c->get(item(2))) == "not_found");
  BOOST_TEST(c->get("/passthrough-referrers/abc?account_id=acme").status == 404u);
  BOOST_TEST(c->get("/passthrough-referrers/0?account_id=acme").status == 404u);
  BOOST_TEST(c->get("/passthrough-referrers/99999999999999999999?account_id=acme").status == 404u);
}

BOOST_FIXTURE_TEST_CASE(patch_is_partial_and_bumps_updated_at, in_process_fixture) {
  auto c = client();
  auto created =
      c->post(k_base, R"({"domain":"a.example.com","utm_source":"s","utm_term":"t"})").json();
  std::string created_at = created["data"]["created_at"].GetString();
  clock.advance(std::chrono::milliseconds(5));  // updated_at moves on
  auto r = c->patch(item(1), R"({"utm_source":"new","service_name":"Svc","is_active":false})");
  BOOST_TEST(r.status == 200u);
  auto doc = r.json();  // o points into doc
  auto o = doc["data"].GetObject();
  BOOST_TEST(o["utm_source"].GetString() == std::string("new"));
  BOOST_TEST(o["utm_term"].GetString() == std::string("t"));
  BOOST_TEST(o["domain"].GetString() == std::string("a.example.com"));
  BOOST_TEST(!o["is_active"].GetBool());
  BOOST_TEST(o["created_at"].GetString() == created_at);
  BOOST_TEST(o["updated_at"].GetString() > created_at);
  auto cleared = c->patch(item(1), R"({"service_name":null})");
  BOOST_TEST(cleared.json()["data"]["service_name"].IsNull());
  BOOST_TEST(c->get(item(1)).json()["data"]["utm_source"].GetString() == std::string("new"));
}

BOOST_AUTO_TEST_CASE(a_patch_without_change_is_200_and_writes_no_event) {
  auto c = client();
  c->post(k_base, R"({"domain":"a.example.com","utm_source":"s"})");
  auto before = c->get(item(1)).json();
  auto same = c->patch(item(1), R"({"utm_source":"s","domain":"WWW.A.example.com"})");
  BOOST_TEST(same.status == 200u);
  BOOST_TEST(same.json()["data"]["updated_at"].GetString() ==
             std::string(before["data"]["updated_at"].GetString()));
  BOOST_TEST(c->patch(item(1), "{}").status == 200u);
  auto metrics = http_client(server->port()).get("/metrics").body;
  BOOST_TEST(metrics.find("referrald_events_appended_total 1\n") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(patch_conflicts_validation_and_404) {
  auto c = client();
  c->post(k_base, R"({"domain":"a.example.com","utm_source":"s"})");
  c->post(k_base, R"({"domain":"b.example.com","utm_source":"s"})");
  auto clash = c->patch(item(2), R"({"domain":"https://a.example.com/"})");
  BOOST_TEST(clash.status == 409u);
  BOOST_TEST(names_field(clash, "domain"));
  BOOST_TEST(c->patch(item(2), R"({"domain":"b.example.com"})").status == 200u);
  auto ro = c->patch(item(2), R"({"id":7})");
  BOOST_TEST(ro.status == 400u);
  BOOST_TEST(names_field(ro, "id"));
  BOOST_TEST(names_field(c->patch(item(2), R"({"created_at":"x"})"), "created_at"));
  BOOST_TEST(names_field(c->patch(item(2), R"({"colour":"red"})"), "colour"));
  BOOST_TEST(names_field(c->patch(item(2), R"({"utm_source":""})"), "utm_source"));
  BOOST_TEST(names_field(c->patch(item(2), R"({"domain":"nodot"})"), "domain"));
  BOOST_TEST(c->patch(item(9), R"({"utm_term":"x"})").status == 404u);
  auto not_json = c->patch(item(2), "{");
  BOOST_TEST(not_json.status == 400u);
  BOOST_TEST(error_code(not_json) == "invalid_json");
  auto wrong_type =
      c->request("PATCH", item(2), R"({"utm_term":"x"})", {{"Content-Type", "text/plain"}});
  BOOST_TEST(wrong_type.status == 415u);
}

BOOST_AUTO_TEST_CASE(delete_is_204_then_404_and_ids_are_not_reused) {
  auto c = client();
  c->post(k_base, R"({"domain":"a.example.com","utm_source":"s"})");
  c->post(k_base, R"({"domain":"b.example.com","utm_source":"s"})");
  auto del = c->del(item(2));
  BOOST_TEST(del.status == 204u);
  BOOST_TEST(del.body.empty());
  BOOST_TEST(c->get(item(2)).status == 404u);
  BOOST_TEST(c->del(item(2)).status == 404u);
  // The freed domain can be registered again, under a new id.
  auto again = c->post(k_base, R"({"domain":"b.example.com","utm_source":"s"})");
  BOOST_TEST(again.status == 201u);
  BOOST_TEST(again.json()["data"]["id"].GetInt() == 3);
  auto list = c->get(k_base).json();
  BOOST_TEST(list["data"]["total"].GetInt() == 2);
}

// Every write answers the account's sequence number after it; a read naming a sequence
// the account has reached is served at once, one it has not reached waits and gets 503,
// and a value that is no positive integer is a 400 naming the header.
BOOST_AUTO_TEST_CASE(writes_answer_their_sequence_and_a_min_seq_must_be_a_positive_integer) {
  auto c = client();
  auto created = c->post(k_base, R"({"domain":"seq.example.com","utm_source":"s"})");
  BOOST_REQUIRE(created.status == 201u);
  BOOST_TEST(created.header("referrald-seq") == "1");
  auto unchanged = c->patch("/passthrough-referrers/1?account_id=acme", R"({"utm_source":"s"})");
  BOOST_TEST(unchanged.header("referrald-seq") == "1");
  BOOST_TEST(c->request("GET", k_base, {}, {{"Referrald-Min-Seq", "1"}}).status == 200u);
  for (const char* bad : {"0", "-1", "1.5", "18446744073709551616", "1x", "0x10"}) {
    auto r = c->request("GET", k_base, {}, {{"Referrald-Min-Seq", bad}});
    BOOST_TEST(r.status == 400u, bad << ": " << r.body);
    BOOST_TEST(r.body.find("Referrald-Min-Seq") != std::string::npos, r.body);
  }
  auto ahead = c->request("GET", k_base, {}, {{"Referrald-Min-Seq", "2"}});
  BOOST_TEST(ahead.status == 503u);
  BOOST_TEST(ahead.header("retry-after") == "1");
}

BOOST_AUTO_TEST_SUITE_END()
