// One account must not be able to stall the others: regex option settings that switch
// safeguards off are refused, regex mappings per account are capped, the regexes of one
// visit share a work budget, and batches run on the compute pool in fair slices, bounded
// by the request timeout — never on an I/O thread.

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "tests/http/fixture.hpp"

using namespace referrald::testing;
using std::chrono::steady_clock;

namespace {

// Catastrophic backtracking on any host without a trailing digit; the comment makes each
// pattern distinct without changing what it matches.
std::string costly_regex(int i) {
  return R"j({"referrer_pattern":"^(?:[a-z]+\\.?)+[0-9]$(?#)j" + std::to_string(i) +
         R"j()","match_type":"regex","utm_source":"r)j" + std::to_string(i) + "\"}";
}

const std::string k_costly_visit =
    R"({"referrer":"https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example/",)"
    R"("landing_url":"https://h.example/"})";

double ms_since(steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(steady_clock::now() - t).count();
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(isolation, server_fixture)

BOOST_AUTO_TEST_CASE(regex_option_settings_that_switch_safeguards_off_are_refused) {
  auto c = client();
  for (const char* p : {"(*NO_JIT)^a", "(*LIMIT_MATCH=99999999)a+", "(*LIMIT_DEPTH=1)a",
                        "(*LIMIT_HEAP=1)a", "(*UTF)(*NO_JIT)a", "(*NO_START_OPT)a"}) {
    std::string body =
        std::string(R"({"referrer_pattern":")") + p + R"(","match_type":"regex","utm_source":"s"})";
    auto r = c->post("/referrer-mappings?account_id=acme", body);
    BOOST_TEST(r.status == 400u, p << ": " << r.body);
    BOOST_TEST(names_field(r, "referrer_pattern"), p);
    BOOST_TEST(r.body.find("option setting") != std::string::npos, r.body);
  }
  // Backtracking control verbs inside a pattern are part of the match and stay allowed.
  auto verb =
      c->post("/referrer-mappings?account_id=acme",
              R"({"referrer_pattern":"^a(*COMMIT)b","match_type":"regex","utm_source":"s"})");
  BOOST_TEST(verb.status == 201u, verb.body);
}

BOOST_AUTO_TEST_CASE(an_account_holds_at_most_the_configured_number_of_regex_mappings) {
  server->stop(SIGTERM);
  start({"--max-regex-mappings", "3"});
  auto c = client();
  for (int i = 0; i < 3; ++i)
    BOOST_REQUIRE(c->post("/referrer-mappings?account_id=acme", costly_regex(i)).status == 201u);
  auto fourth = c->post("/referrer-mappings?account_id=acme", costly_regex(3));
  BOOST_TEST(fourth.status == 409u, fourth.body);
  BOOST_TEST(names_field(fourth, "match_type"));
  // Turning another mapping into a regex takes a place too.
  auto plain = c->post("/referrer-mappings?account_id=acme",
                       R"({"referrer_pattern":"p.example","utm_source":"s"})");
  BOOST_REQUIRE(plain.status == 201u);
  auto id = std::to_string(plain.json()["data"]["id"].GetInt());
  auto patched = c->patch("/referrer-mappings/" + id + "?account_id=acme",
                          R"({"referrer_pattern":"^p","match_type":"regex"})");
  BOOST_TEST(patched.status == 409u, patched.body);
  // Editing a regex mapping that already holds a place is fine; another account has its own.
  BOOST_TEST(c->patch("/referrer-mappings/1?account_id=acme", R"({"label":"x"})").status == 200u);
  BOOST_TEST(c->post("/referrer-mappings?account_id=other", costly_regex(0)).status == 201u);
}

// The budget was 2 ms of wall-clock time, so whether it ran out depended on the machine's
// speed; it is counted in matches stopped by PCRE2's limit, and so is this test.
BOOST_AUTO_TEST_CASE(the_regexes_of_one_visit_share_a_work_budget) {
  server->stop(SIGTERM);
  start({"--max-regex-mappings", "300"});
  auto c = client();
  for (int i = 0; i < 300; ++i)
    BOOST_REQUIRE(c->post("/referrer-mappings?account_id=evil", costly_regex(i)).status == 201u);
  http_client anon(server->port());
  auto r = c->post("/attribution/resolve?account_id=evil", k_costly_visit);
  BOOST_REQUIRE(r.status == 200u);
  auto d = r.json();
  BOOST_TEST(d["data"]["reason"].GetString() == std::string("referral"));
  BOOST_REQUIRE(d["data"]["warnings"].Size() == 1u);
  std::string warning = d["data"]["warnings"][0].GetString();
  BOOST_TEST(warning.find("3 of them were stopped by the match limit") != std::string::npos,
             warning);
  // The rest were not tried (those whose required literal the host lacks never are).
  BOOST_TEST(warning.find(" were not tried") != std::string::npos, warning);
  std::string metrics = anon.get("/metrics").body;
  BOOST_TEST(metrics.find("referrald_regex_budget_exhausted_total 1\n") != std::string::npos);
  BOOST_TEST(metrics.find("referrald_regex_match_limit_hits_total 3\n") != std::string::npos);
  // The same visit gets the same answer again.
  auto again = c->post("/attribution/resolve?account_id=evil", k_costly_visit);
  BOOST_TEST(again.body == r.body);
  // explain=true stays within the budget too.
  auto explained = c->post("/attribution/resolve?account_id=evil&explain=true", k_costly_visit);
  BOOST_TEST(explained.status == 200u);
  BOOST_TEST(explained.body.find("not tried: the regex budget") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_costly_account_does_not_hold_other_accounts_or_healthz) {
  server->stop(SIGTERM);
  start({"--max-regex-mappings", "300", "--request-timeout", "3000"});
  auto c = client();
  for (int i = 0; i < 300; ++i)
    BOOST_REQUIRE(c->post("/referrer-mappings?account_id=evil", costly_regex(i)).status == 201u);
  c->post("/passthrough-referrers?account_id=good",
          R"({"domain":"pay.example.com","utm_source":"pay"})");
  // Two batches of costly visits, as many as there are compute threads here.
  std::string batch = R"({"visits":[)";
  for (int i = 0; i < 10000; ++i)
    batch += (i > 0 ? "," : "") + k_costly_visit;
  batch += "]}";
  auto evil = [&] {
    http_client e(server->port(), admin_secret);
    auto began = steady_clock::now();
    auto r = e.post("/attribution/resolve-batch?account_id=evil", batch);
    return std::make_pair(r, ms_since(began));
  };
  auto first = std::async(std::launch::async, evil);
  auto second = std::async(std::launch::async, evil);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // Meanwhile: health, another account's single visit and its batch answer promptly.
  http_client anon(server->port());
  auto began = steady_clock::now();
  BOOST_TEST(anon.get("/healthz").status == 200u);
  double healthz_ms = ms_since(began);
  http_client good(server->port(), admin_secret);
  began = steady_clock::now();
  auto one =
      good.post("/attribution/resolve?account_id=good",
                R"({"referrer":"https://pay.example.com/","landing_url":"https://h.example/"})");
  double one_ms = ms_since(began);
  BOOST_TEST(one.status == 200u);
  began = steady_clock::now();
  auto small = good.post(
      "/attribution/resolve-batch?account_id=good",
      R"({"visits":[{"referrer":"https://pay.example.com/","landing_url":"https://h.example/"}]})");
  double batch_ms = ms_since(began);
  BOOST_TEST(small.status == 200u);
  BOOST_TEST(small.json()["data"]["results"][0]["reason"].GetString() ==
             std::string("passthrough_fallback"));
  BOOST_TEST_MESSAGE("while two costly batches run: healthz "
                     << healthz_ms << " ms, a visit " << one_ms << " ms, a batch " << batch_ms
                     << " ms");
  // Generous bounds: before the compute pool, each of these waited for the costly batch.
  BOOST_TEST(healthz_ms < 500.0);
  BOOST_TEST(one_ms < 500.0);
  BOOST_TEST(batch_ms < 500.0);
  // The costly batches stop at the request timeout, with a 503 that says why.
  for (auto* f : {&first, &second}) {
    auto [r, took] = f->get();
    BOOST_TEST(r.status == 503u, r.body.substr(0, 200));
    BOOST_TEST(r.body.find("request timeout") != std::string::npos, r.body.substr(0, 300));
    BOOST_TEST(took < 6000.0);
  }
}

BOOST_AUTO_TEST_SUITE_END()
