// The Referrer Mappings API end to end (docs/api-guide.md, "Referrer mappings").

#include <signal.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <thread>

#include "tests/http/fixture.hpp"
#include "tests/support/eventually.hpp"

using namespace referrald::testing;

namespace {

const std::string k_base = "/referrer-mappings?account_id=acme";

std::string item(int id) { return "/referrer-mappings/" + std::to_string(id) + "?account_id=acme"; }

}  // namespace

BOOST_FIXTURE_TEST_SUITE(mappings_api, server_fixture)

BOOST_AUTO_TEST_CASE(create_returns_201_with_the_full_object_and_defaults) {
  auto c = client();
  auto r = c->post(
      k_base, R"({"referrer_pattern":"https://Partner-Site.com/","utm_source":"partner-site"})");
  BOOST_TEST(r.status == 201u, r.body);
  auto d = r.json();
  const auto& o = d["data"];
  BOOST_TEST(o.MemberCount() == 15u);
  BOOST_TEST(o["id"].GetInt() == 1);
  BOOST_TEST(o["account_id"].GetString() == std::string("acme"));
  BOOST_TEST(o["referrer_pattern"].GetString() == std::string("partner-site.com"));
  BOOST_TEST(o["match_type"].GetString() == std::string("exact"));
  BOOST_TEST(o["utm_medium"].GetString() == std::string("referral"));
  BOOST_TEST(o["utm_campaign"].GetString() == std::string(""));
  BOOST_TEST(o["utm_term"].GetString() == std::string(""));
  BOOST_TEST(o["utm_content"].GetString() == std::string(""));
  BOOST_TEST(o["label"].GetString() == std::string(""));
  BOOST_TEST(o["description"].IsNull());
  BOOST_TEST(o["priority"].GetInt() == 0);
  BOOST_TEST(o["is_active"].GetBool());
  BOOST_TEST(o["created_at"].GetString() == std::string(o["updated_at"].GetString()));
}

BOOST_AUTO_TEST_CASE(list_is_ordered_by_id_with_total_and_active_count) {
  auto c = client();
  c->post(k_base, R"({"referrer_pattern":"a.com","utm_source":"a","priority":5})");
  c->post(k_base,
          R"({"referrer_pattern":"b","match_type":"contains","utm_source":"b","is_active":false})");
  c->post(
      k_base,
      R"({"referrer_pattern":"c.com","match_type":"ends_with","utm_source":"c","priority":900})");
  auto active = c->get(k_base).json();
  BOOST_TEST(active["data"]["mappings"].Size() == 2u);
  BOOST_TEST(active["data"]["mappings"][0]["id"].GetInt() == 1);
  BOOST_TEST(active["data"]["mappings"][1]["id"].GetInt() == 3);
  BOOST_TEST(active["data"]["total"].GetInt() == 3);
  BOOST_TEST(active["data"]["active_count"].GetInt() == 2);
  auto all = c->get(k_base + "&include_inactive=true").json();
  BOOST_TEST(all["data"]["mappings"].Size() == 3u);
  BOOST_TEST(c->get(k_base + "&include_inactive=maybe").status == 400u);
}

BOOST_AUTO_TEST_CASE(every_match_type_is_accepted_and_others_refused) {
  auto c = client();
  int n = 0;
  for (const char* t : {"exact", "contains", "starts_with", "ends_with", "regex"}) {
    auto r = c->post(k_base, std::string(R"({"referrer_pattern":"p)") + std::to_string(++n) +
                                 R"(.com","utm_source":"s","match_type":")" + t + "\"}");
    BOOST_TEST(r.status == 201u, t << ": " << r.body);
    BOOST_TEST(r.json()["data"]["match_type"].GetString() == std::string(t));
  }
  for (const char* t : {"fuzzy", "Exact", "", "prefix"}) {
    auto r = c->post(
        k_base,
        std::string(R"({"referrer_pattern":"q.com","utm_source":"s","match_type":")") + t + "\"}");
    BOOST_TEST(r.status == 400u, t);
    BOOST_TEST(names_field(r, "match_type"));
  }
  auto wrong_type =
      c->post(k_base, R"({"referrer_pattern":"q.com","utm_source":"s","match_type":3})");
  BOOST_TEST(names_field(wrong_type, "match_type"));
}

// Rules that could never match were accepted: an exact pattern '*.acme.com' (no host holds a
// '*'), and a channel rule's landing_path_prefix holding '?' or '#' (never in a path).
BOOST_AUTO_TEST_CASE(a_rule_that_could_never_match_is_refused_saying_what_to_use) {
  auto c = client();
  for (std::string type : {"exact", "ends_with", "starts_with", "contains"}) {
    auto r = c->post(k_base, R"({"referrer_pattern":"*.acme.com","match_type":")" + type +
                                 R"(","utm_source":"s"})");
    BOOST_TEST(r.status == 400u, type);
    BOOST_TEST(names_field(r, "referrer_pattern"), r.body);
    BOOST_TEST(r.body.find("use match_type ends_with and 'acme.com'") != std::string::npos, r.body);
  }
  auto rule = c->post("/channel-rules?account_id=acme",
                      R"({"name":"w","channel":"W","referrer_pattern":"*.acme.com"})");
  BOOST_TEST(rule.status == 400u);
  BOOST_TEST(names_field(rule, "referrer_pattern"), rule.body);
  for (std::string prefix : {"/pricing?plan=pro", "/docs#intro"}) {
    auto r = c->post("/channel-rules?account_id=acme",
                     R"({"name":"p","channel":"P","landing_path_prefix":")" + prefix + R"("})");
    BOOST_TEST(r.status == 400u, prefix);
    BOOST_TEST(names_field(r, "landing_path_prefix"), r.body);
    BOOST_TEST(r.body.find("never does") != std::string::npos, r.body);
  }
  // A regex may hold a '*'; nothing was stored by the refusals.
  BOOST_TEST(c->post(k_base, R"({"referrer_pattern":"^.*\\.acme\\.com$","match_type":"regex",)"
                             R"("utm_source":"s"})")
                 .status == 201u);
  BOOST_TEST(c->get("/channel-rules?account_id=acme").json()["data"]["total"].GetInt() == 0);
}

BOOST_AUTO_TEST_CASE(fields_are_validated_and_named) {
  auto c = client();
  std::string s256(256, 'x');
  struct bad_case {
    std::string body;
    std::string field;
  };
  std::vector<bad_case> cases = {
      {R"({"utm_source":"s"})", "referrer_pattern"},
      {R"({"referrer_pattern":"a.com"})", "utm_source"},
      {R"({"referrer_pattern":")" + s256 + R"(","utm_source":"s"})", "referrer_pattern"},
      {R"({"referrer_pattern":"a.com","utm_source":"s","priority":1001})", "priority"},
      {R"({"referrer_pattern":"a.com","utm_source":"s","priority":-5})", "priority"},
      {R"({"referrer_pattern":"a.com","utm_source":"s","priority":"high"})", "priority"},
      {R"({"referrer_pattern":"a.com","utm_source":"s","description":")" + std::string(501, 'd') +
           R"("})",
       "description"},
      {R"({"referrer_pattern":"a.com","utm_source":"s","label":")" + std::string(101, 'l') +
           R"("})",
       "label"},
      {R"({"referrer_pattern":"a.com","utm_source":"s","utm_content":")" + s256 + R"("})",
       "utm_content"},
      {R"({"referrer_pattern":"a.com","utm_source":"s","utm_medium":null})", "utm_medium"},
      {R"({"referrer_pattern":"a.com","utm_source":"s","is_active":0})", "is_active"},
      {R"({"referrer_pattern":"a.com","utm_source":"s","id":3})", "id"},
      {R"({"referrer_pattern":"a.com","utm_source":"s","account_id":"acme"})", "account_id"},
      {R"({"referrer_pattern":"a.com","utm_source":"s","created_at":"2025-01-01T00:00:00Z"})",
       "created_at"},
      {R"({"referrer_pattern":"a.com","utm_source":"s","domain":"a.com"})", "domain"},
      {R"({"referrer_pattern":"a b.com","utm_source":"s"})", "referrer_pattern"},
  };
  for (const auto& bc : cases) {
    auto r = c->post(k_base, bc.body);
    BOOST_TEST(r.status == 400u, bc.body);
    BOOST_TEST(names_field(r, bc.field), bc.body << " should name " << bc.field);
  }
  auto ok = c->post(k_base, R"({"referrer_pattern":"a.com","utm_source":"s","priority":1000,
      "description":null,"label":"L","utm_content":"c"})");
  BOOST_TEST(ok.status == 201u, ok.body);
}

BOOST_AUTO_TEST_CASE(a_regex_that_does_not_compile_is_400_with_pcre2s_message) {
  auto c = client();
  auto r =
      c->post(k_base, R"({"referrer_pattern":"(partner","match_type":"regex","utm_source":"s"})");
  BOOST_TEST(r.status == 400u);
  BOOST_TEST(error_code(r) == "validation_failed");
  auto d = r.json();
  std::string message = d["error"]["details"][0]["message"].GetString();
  BOOST_TEST(d["error"]["details"][0]["field"].GetString() == std::string("referrer_pattern"));
  BOOST_TEST(message ==
             "is not a valid regular expression: missing closing parenthesis at offset 8");
  auto patched =
      c->post(k_base, R"({"referrer_pattern":"^ok$","match_type":"regex","utm_source":"s"})");
  BOOST_REQUIRE(patched.status == 201u);
  auto bad_patch = c->patch(item(1), R"({"referrer_pattern":"[z-a]"})");
  BOOST_TEST(bad_patch.status == 400u);
  BOOST_TEST(names_field(bad_patch, "referrer_pattern"));
  BOOST_TEST(bad_patch.json()["error"]["details"][0]["message"].GetString() ==
             std::string("is not a valid regular expression: range out of order in character "
                         "class at offset 3"));
}

BOOST_AUTO_TEST_CASE(duplicate_normalized_patterns_are_409_whatever_the_type) {
  auto c = client();
  BOOST_REQUIRE(c->post(k_base, R"({"referrer_pattern":"partner.com","utm_source":"s"})").status ==
                201u);
  for (const char* body :
       {R"({"referrer_pattern":"https://www.PARTNER.com/x","utm_source":"s"})",
        R"({"referrer_pattern":"partner.com","match_type":"contains","utm_source":"s"})",
        R"({"referrer_pattern":".partner.com","match_type":"ends_with","utm_source":"s"})"}) {
    auto r = c->post(k_base, body);
    BOOST_TEST(r.status == 409u, body);
    BOOST_TEST(error_code(r) == "conflict");
    BOOST_TEST(names_field(r, "referrer_pattern"));
  }
  BOOST_REQUIRE(c->post(k_base, R"({"referrer_pattern":"other.com","utm_source":"s"})").status ==
                201u);
  auto clash = c->patch(item(2), R"({"referrer_pattern":"www.partner.com"})");
  BOOST_TEST(clash.status == 409u);
  BOOST_TEST(names_field(clash, "referrer_pattern"));
  BOOST_TEST(
      c->patch(item(2), R"({"referrer_pattern":"other.com","match_type":"ends_with"})").status ==
      200u);
}

BOOST_FIXTURE_TEST_CASE(get_patch_delete_follow_the_api, in_process_fixture) {
  auto c = client();
  c->post(k_base, R"({"referrer_pattern":"partner.com","utm_source":"s","description":"d"})");
  BOOST_TEST(c->get(item(1)).status == 200u);
  BOOST_TEST(c->get(item(2)).status == 404u);
  BOOST_TEST(error_code(c->get(item(2))) == "not_found");
  auto before = c->get(item(1)).json();
  clock.advance(std::chrono::milliseconds(5));  // updated_at moves on
  auto p = c->patch(item(1), R"({"priority":100,"description":null,"utm_content":"c"})");
  BOOST_TEST(p.status == 200u);
  auto doc = p.json();  // o points into doc
  auto o = doc["data"].GetObject();
  BOOST_TEST(o["priority"].GetInt() == 100);
  BOOST_TEST(o["description"].IsNull());
  BOOST_TEST(o["utm_source"].GetString() == std::string("s"));
  BOOST_TEST(o["updated_at"].GetString() > std::string(before["data"]["updated_at"].GetString()));
  auto same = c->patch(item(1), R"({"priority":100,"referrer_pattern":"WWW.partner.com"})");
  BOOST_TEST(same.status == 200u);
  BOOST_TEST(same.json()["data"]["updated_at"].GetString() ==
             std::string(o["updated_at"].GetString()));
  BOOST_TEST(names_field(c->patch(item(1), R"({"id":2})"), "id"));
  BOOST_TEST(names_field(c->patch(item(1), R"({"colour":"red"})"), "colour"));
  BOOST_TEST(names_field(c->patch(item(1), R"({"priority":2000})"), "priority"));
  BOOST_TEST(names_field(c->patch(item(1), R"({"match_type":"regex","referrer_pattern":"(x"})"),
                         "referrer_pattern"));
  BOOST_TEST(c->patch(item(7), R"({"priority":1})").status == 404u);
  BOOST_TEST(c->del(item(1)).status == 204u);
  BOOST_TEST(c->get(item(1)).status == 404u);
  BOOST_TEST(c->del(item(1)).status == 404u);
  auto again = c->post(k_base, R"({"referrer_pattern":"partner.com","utm_source":"s"})");
  BOOST_TEST(again.json()["data"]["id"].GetInt() == 2);
}

BOOST_AUTO_TEST_CASE(auth_rules_are_those_of_every_rule_api) {
  auto viewer = client(make_key("viewer", R"(["acme"])", "[]"));
  auto admin = client();
  BOOST_REQUIRE(admin->post(k_base, R"({"referrer_pattern":"a.com","utm_source":"s"})").status ==
                201u);
  BOOST_TEST(viewer->get(k_base).status == 200u);
  BOOST_TEST(viewer->get(item(1)).status == 200u);
  BOOST_TEST(viewer->post(k_base, R"({"referrer_pattern":"b.com","utm_source":"s"})").status ==
             403u);
  BOOST_TEST(viewer->patch(item(1), R"({"priority":1})").status == 403u);
  BOOST_TEST(viewer->del(item(1)).status == 403u);
  BOOST_TEST(viewer->get("/referrer-mappings?account_id=beta").status == 403u);
  BOOST_TEST(admin->get("/referrer-mappings/1?account_id=beta").status == 404u);
  BOOST_TEST(http_client(server->port()).get(k_base).status == 401u);
  BOOST_TEST(admin->get("/v1/referrer-mappings?account_id=acme").status == 200u);
}

BOOST_AUTO_TEST_CASE(mappings_survive_restarts_including_sigkill) {
  auto c = client();
  c->post(k_base, R"({"referrer_pattern":"a.com","utm_source":"a"})");
  c->post(
      k_base,
      R"({"referrer_pattern":"^shop[0-9]+\\.","match_type":"regex","utm_source":"r","priority":7})");
  c->post(k_base, R"({"referrer_pattern":"partner","match_type":"contains","utm_source":"p"})");
  c->patch(item(3), R"({"is_active":false})");
  c->del(item(1));
  std::string before = c->get(k_base + "&include_inactive=1").body;
  BOOST_REQUIRE(server->stop(SIGTERM) == 0);
  start();
  BOOST_TEST(client()->get(k_base + "&include_inactive=1").body == before);
  client()->post(k_base, R"({"referrer_pattern":"d.com","utm_source":"d"})");
  std::string after = client()->get(k_base + "&include_inactive=1").body;
  server->stop(SIGKILL);
  start();
  BOOST_TEST(client()->get(k_base + "&include_inactive=1").body == after);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(mapping_index_upkeep, server_fixture)

BOOST_AUTO_TEST_CASE(a_moment_after_writes_stop_the_layered_index_is_rebuilt_in_full) {
  auto c = client();
  auto builds = [&] {
    auto text = c->get("/metrics").body;
    auto at = text.find("\nreferrald_mapping_index_builds_total ");
    BOOST_REQUIRE(at != std::string::npos);
    return std::stoll(text.substr(at + 38));
  };
  // Enough mappings for a full build at the first publish, then a few layered over it.
  BOOST_REQUIRE(c->post(k_base, R"({"referrer_pattern":"a.com","utm_source":"a"})").status == 201u);
  long long before = builds();
  for (int i = 0; i < 3; ++i) {
    auto r = c->post(k_base, R"({"referrer_pattern":"b)" + std::to_string(i) +
                                 R"(.com","utm_source":"b","priority":9})");
    BOOST_REQUIRE(r.status == 201u);
  }
  long long after = before;
  eventually(
      [&] {
        after = builds();
        return after != before;
      },
      std::chrono::seconds(6), std::chrono::milliseconds(100));
  BOOST_TEST(after > before);  // within about a second of the last write
  // And the answers are the same.
  auto r = c->post("/attribution/resolve?account_id=acme",
                   R"({"referrer":"https://b1.com/","landing_url":"https://x.example/"})");
  BOOST_TEST(r.json()["data"]["utm_source"].GetString() == std::string("b"));
}

BOOST_AUTO_TEST_SUITE_END()
