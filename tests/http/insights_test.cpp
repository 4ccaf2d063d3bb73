// Insights over HTTP (docs/insights.md): what is counted and what is not, the fall-through
// hosts with the rule that would catch each, a suggestion accepted as an ordinary write, the
// counts after a restart and after a kill, and the errors of the range.

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <boost/test/unit_test.hpp>
#include <csignal>
#include <string>

#include "tests/http/fixture.hpp"
#include "tests/support/command.hpp"
#include "tests/support/eventually.hpp"

using namespace referrald::testing;

namespace {

std::string referral_from(const std::string& host, const std::string& landing = "shop.example") {
  return R"({"referrer":"https://)" + host + R"(/page?secret=1","landing_url":"https://)" +
         landing + R"(/"})";
}

// A counter of the server's /metrics.
std::uint64_t metric(server_process& server, const std::string& name) {
  auto body = http_client(server.port()).get("/metrics").body;
  auto at = body.find("\n" + name + " ");
  BOOST_REQUIRE(at != std::string::npos);
  return std::stoull(body.substr(at + name.size() + 2));
}

std::uint64_t resolutions(http_client& c) {
  return c.get("/insights?account_id=acme").json()["data"]["totals"]["resolutions"].GetUint64();
}

std::string to_json_text(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return {buf.GetString(), buf.GetSize()};
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(insights, server_fixture)

BOOST_AUTO_TEST_CASE(every_live_resolution_is_counted_once_and_explain_or_as_of_not_at_all) {
  auto c = client();
  // Single: 1.
  BOOST_REQUIRE(
      c->post("/attribution/resolve?account_id=acme", referral_from("a.example")).status == 200u);
  // A JSON batch: 2 visits and one that is not a visit (not counted).
  auto batch = c->post(
      "/attribution/resolve-batch?account_id=acme",
      R"({"visits":[)" + referral_from("a.example") + "," +
          R"({"referrer":null,"landing_url":"https://shop.example/?utm_source=x&utm_medium=weird-newsletter"},)"
          R"({"landing_url":7}]})");
  BOOST_REQUIRE_MESSAGE(batch.status == 200u, batch.body);
  // NDJSON: 2.
  auto ndjson = c->request("POST", "/attribution/resolve-batch?account_id=acme",
                           referral_from("b.example") + "\n" +
                               R"({"referrer":null,"landing_url":"https://shop.example/"})" + "\n",
                           {{"Content-Type", "application/x-ndjson"}});
  BOOST_REQUIRE_MESSAGE(ndjson.status == 200u, ndjson.body);
  // Not counted: explain, as_of, and another account's.
  BOOST_REQUIRE(
      c->post("/attribution/resolve?account_id=acme&explain=true", referral_from("a.example"))
          .status == 200u);
  BOOST_REQUIRE(c->post("/attribution/resolve-batch?account_id=acme&as_of=2026-01-01T00:00:00Z",
                        R"({"visits":[)" + referral_from("a.example") + "]}")
                    .status == 200u);
  BOOST_REQUIRE(
      c->post("/attribution/resolve?account_id=other", referral_from("a.example")).status == 200u);
  // The tracker's call, with a publishable key: 1.
  auto pk = c->post("/api-keys",
                    R"({"name":"pages","role":"publishable","accounts":["acme"],"brands":[],)"
                    R"("allowed_origins":["https://shop.example"]})");
  BOOST_REQUIRE_MESSAGE(pk.status == 201u, pk.body);
  http_client page(server->port(), pk.json()["data"]["secret"].GetString());
  auto tracked =
      page.request("POST", "/attribution/resolve?account_id=acme", referral_from("b.example"),
                   {{"Content-Type", "application/json"}, {"Origin", "https://shop.example"}});
  BOOST_REQUIRE_MESSAGE(tracked.status == 200u, tracked.body);

  auto r = c->get("/insights?account_id=acme");
  BOOST_REQUIRE_MESSAGE(r.status == 200u, r.body);
  auto d = r.json();
  const auto& totals = d["data"]["totals"];
  BOOST_TEST(totals["resolutions"].GetUint64() == 6u, r.body);
  BOOST_TEST(totals["by_reason"]["referral"].GetUint64() == 4u, r.body);
  BOOST_TEST(totals["by_reason"]["utm"].GetUint64() == 1u, r.body);
  BOOST_TEST(totals["by_reason"]["direct"].GetUint64() == 1u, r.body);
  BOOST_TEST(totals["by_channel"]["Referral"].GetUint64() == 4u, r.body);
  BOOST_TEST(totals["by_channel"]["Unassigned"].GetUint64() == 1u, r.body);
  BOOST_TEST(d["data"]["days"].Size() == 7u);
  BOOST_TEST(d["data"]["days"][6]["resolutions"].GetUint64() == 6u);
  BOOST_TEST(d["data"]["days"][0]["resolutions"].GetUint64() == 0u);

  auto refs = c->get("/insights/referrers?account_id=acme");
  BOOST_REQUIRE_MESSAGE(refs.status == 200u, refs.body);
  auto rd = refs.json();
  const auto& list = rd["data"]["referrers"];
  BOOST_REQUIRE(list.Size() == 2u);
  BOOST_TEST(list[0]["visits"].GetUint64() == 2u);
  BOOST_TEST(list[0]["visits_overcount"].GetUint64() == 0u);
  // Hosts only: nothing of a referrer's path or query is kept.
  BOOST_TEST(refs.body.find("secret=1") == std::string::npos);
  BOOST_TEST(refs.body.find("/page") == std::string::npos);
  BOOST_TEST(rd["data"]["unknown_mediums"][0]["utm_medium"].GetString() ==
             std::string("weird-newsletter"));
  // The other account's own.
  auto other = c->get("/insights?account_id=other").json();
  BOOST_TEST(other["data"]["totals"]["resolutions"].GetUint64() == 1u);
}

BOOST_AUTO_TEST_CASE(a_suggestion_sent_as_it_is_changes_the_next_resolution_of_its_host) {
  auto c = client();
  for (int i = 0; i < 6; ++i) {
    BOOST_REQUIRE(
        c->post("/attribution/resolve?account_id=acme", referral_from("news.partner.co.uk"))
            .status == 200u);
  }
  auto refs = c->get("/insights/referrers?account_id=acme").json();
  const auto& host = refs["data"]["referrers"][0];
  BOOST_TEST(host["host"].GetString() == std::string("news.partner.co.uk"));
  BOOST_TEST(host["registrable_domain"].GetString() == std::string("partner.co.uk"));
  const auto& s = host["suggestion"];
  BOOST_REQUIRE(s["kind"].GetString() == std::string("mapping"));
  const auto& req = s["request"];
  BOOST_TEST(req["method"].GetString() == std::string("POST"));
  std::string path = req["path"].GetString();
  BOOST_TEST(path == "/referrer-mappings");
  auto made = c->post(path + "?account_id=acme", to_json_text(req["body"]));
  BOOST_REQUIRE_MESSAGE(made.status == 201u, made.body);
  auto after = c->post("/attribution/resolve?account_id=acme", referral_from("news.partner.co.uk"));
  BOOST_TEST(after.json()["data"]["reason"].GetString() == std::string("mapping"), after.body);
  BOOST_TEST(after.json()["data"]["utm_source"].GetString() == std::string("partner"));
  // The mapping that decided is counted as the rule it is.
  auto d = c->get("/insights?account_id=acme").json();
  const auto& rules = d["data"]["totals"]["by_rule"];
  BOOST_REQUIRE(rules.Size() == 1u);
  BOOST_TEST(rules[0]["type"].GetString() == std::string("mapping"));
  BOOST_TEST(rules[0]["id"].GetInt64() == made.json()["data"]["id"].GetInt64());
  BOOST_TEST(rules[0]["resolutions"].GetUint64() == 1u);
}

BOOST_AUTO_TEST_CASE(a_suggestion_dismissed_is_not_shown_again_and_the_change_is_audited) {
  auto c = client();
  for (int i = 0; i < 6; ++i) {
    BOOST_REQUIRE(
        c->post("/attribution/resolve?account_id=acme", referral_from("blog.partner.example"))
            .status == 200u);
  }
  auto refs = c->get("/insights/referrers?account_id=acme").json();
  const auto& dismiss = refs["data"]["referrers"][0]["suggestion"]["dismiss"];
  BOOST_REQUIRE(dismiss.IsObject());
  BOOST_TEST(dismiss["method"].GetString() == std::string("PATCH"));
  std::string path = dismiss["path"].GetString();
  BOOST_REQUIRE(path == "/settings");
  auto done = c->patch(path + "?account_id=acme", to_json_text(dismiss["body"]));
  BOOST_REQUIRE_MESSAGE(done.status == 200u, done.body);
  BOOST_TEST(done.json()["data"]["insights_dismissed_hosts"][0].GetString() ==
             std::string("blog.partner.example"));
  // Still listed with its counts (they are facts), no longer with a rule to make.
  auto after = c->get("/insights/referrers?account_id=acme").json();
  const auto& host = after["data"]["referrers"][0];
  BOOST_TEST(host["visits"].GetUint64() == 6u);
  BOOST_TEST(host["suggestion"]["kind"].GetString() == std::string("dismissed"));
  BOOST_TEST(host["suggestion"]["request"].IsNull());
  BOOST_TEST(host["suggestion"]["dismiss"].IsNull());
  // An ordinary settings change: in the audit log, with the list after it.
  auto log = c->get("/audit-log?account_id=acme").json();
  const auto& events = log["data"]["events"];
  BOOST_REQUIRE(events.Size() == 1u);
  BOOST_TEST(events[0]["entity"].GetString() == std::string("account_settings"));
  BOOST_TEST(events[0]["object"]["insights_dismissed_hosts"][0].GetString() ==
             std::string("blog.partner.example"));
  // A host that is not one is refused naming the field.
  auto bad = c->patch("/settings?account_id=acme", R"({"insights_dismissed_hosts":["a b"]})");
  BOOST_TEST(bad.status == 400u);
  BOOST_TEST(bad.body.find("insights_dismissed_hosts") != std::string::npos, bad.body);
}

BOOST_AUTO_TEST_CASE(the_counts_survive_a_restart) {
  auto c = client();
  for (int i = 0; i < 3; ++i)
    BOOST_REQUIRE(
        c->post("/attribution/resolve?account_id=acme", referral_from("a.example")).status == 200u);
  auto before = c->get("/insights?account_id=acme").body;
  int status = server->stop(SIGTERM);
  BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  start();
  auto again = client()->get("/insights?account_id=acme");
  BOOST_TEST(again.body == before);
  auto refs = client()->get("/insights/referrers?account_id=acme").json();
  BOOST_TEST(refs["data"]["referrers"][0]["visits"].GetUint64() == 3u);
}

BOOST_AUTO_TEST_CASE(a_kill_loses_at_most_what_was_counted_since_the_last_flush) {
  // Flushed every second: once a flush has begun after the last resolution and ended, a
  // kill -9 loses nothing.
  server->stop(SIGTERM);
  start({"--insights-flush-every", "1s"});
  auto c = client();
  for (int i = 0; i < 3; ++i)
    BOOST_REQUIRE(
        c->post("/attribution/resolve?account_id=acme", referral_from("a.example")).status == 200u);
  // The flush after the one that may have been under way when they were answered.
  auto flushed = metric(*server, "referrald_insights_flushes_total");
  BOOST_REQUIRE(
      eventually([&] { return metric(*server, "referrald_insights_flushes_total") >= flushed + 2; },
                 std::chrono::seconds(20), std::chrono::milliseconds(50)));
  server->stop(SIGKILL);
  start({"--insights-flush-every", "1s"});
  c = client();
  BOOST_TEST(resolutions(*c) == 3u);
  BOOST_TEST(c->get("/insights/referrers?account_id=acme")
                 .json()["data"]["referrers"][0]["visits"]
                 .GetUint64() == 3u);

  // Flushed every hour: what was counted since the start is the interval a kill loses,
  // and what was written before stays.
  server->stop(SIGTERM);
  start({"--insights-flush-every", "1h"});
  c = client();
  for (int i = 0; i < 2; ++i)
    BOOST_REQUIRE(
        c->post("/attribution/resolve?account_id=acme", referral_from("a.example")).status == 200u);
  BOOST_TEST(resolutions(*c) == 5u);
  server->stop(SIGKILL);
  start();
  BOOST_TEST(resolutions(*client()) == 3u);
}

BOOST_AUTO_TEST_CASE(turned_off_nothing_is_counted_and_what_was_kept_is_deleted) {
  auto c = client();
  for (int i = 0; i < 3; ++i)
    BOOST_REQUIRE(
        c->post("/attribution/resolve?account_id=acme", referral_from("a.example")).status == 200u);
  auto off = c->patch("/settings?account_id=acme", R"({"insights":false})");
  BOOST_REQUIRE_MESSAGE(off.status == 200u, off.body);
  BOOST_TEST(off.json()["data"]["insights"].GetBool() == false);
  BOOST_REQUIRE(
      c->post("/attribution/resolve?account_id=acme", referral_from("a.example")).status == 200u);
  BOOST_REQUIRE(c->post("/attribution/resolve-batch?account_id=acme",
                        R"({"visits":[)" + referral_from("a.example") + "]}")
                    .status == 200u);
  // Deleted on the collector's thread within a moment; nothing counted since.
  bool gone = eventually(
      [&] {
        auto d = c->get("/insights?account_id=acme").json();
        return d["data"]["totals"]["resolutions"].GetUint64() == 0u;
      },
      std::chrono::seconds(10), std::chrono::milliseconds(50));
  BOOST_TEST(gone);
  BOOST_TEST(c->get("/insights/referrers?account_id=acme").json()["data"]["referrers"].Size() ==
             0u);
  // Nothing comes back after a restart either (the stored days were deleted).
  server->stop(SIGTERM);
  start();
  c = client();
  BOOST_TEST(
      c->get("/insights?account_id=acme").json()["data"]["totals"]["resolutions"].GetUint64() ==
      0u);
  // On again: counted from empty.
  BOOST_REQUIRE(c->patch("/settings?account_id=acme", R"({"insights":true})").status == 200u);
  BOOST_REQUIRE(
      c->post("/attribution/resolve?account_id=acme", referral_from("a.example")).status == 200u);
  BOOST_TEST(
      c->get("/insights?account_id=acme").json()["data"]["totals"]["resolutions"].GetUint64() ==
      1u);
}

BOOST_AUTO_TEST_CASE(referralctl_prints_the_same_as_a_table_or_csv) {
  auto c = client();
  std::string batch = R"({"visits":[)";
  for (int i = 0; i < 5; ++i)
    batch += referral_from("blog.partner.example") + ",";
  batch +=
      R"({"referrer":null,"landing_url":"https://shop.example/?utm_source=s&utm_medium=weekly-newsletter"}]})";
  BOOST_REQUIRE(c->post("/attribution/resolve-batch?account_id=acme", batch).status == 200u);
  std::string common =
      " --account acme --server http://127.0.0.1:" + std::to_string(server->port()) + " --key " +
      admin_secret;
  auto table = referralctl("insights" + common);
  BOOST_TEST(table.exit == 0, table.output);
  for (const char* expected :
       {"acme, ", "RESOLUTIONS", "referral", "FALL-THROUGH HOST", "blog.partner.example",
        "mapping: ", "UNKNOWN UTM_MEDIUM", "weekly-newsletter"}) {
    BOOST_TEST(table.output.find(expected) != std::string::npos,
               expected << " in " << table.output);
  }
  auto csv = referralctl("insights --format csv" + common);
  BOOST_TEST(csv.exit == 0, csv.output);
  BOOST_TEST(csv.output.starts_with(
      "section,date,name,visits,visits_with_session,visits_overcount,suggestion,reason\n"));
  BOOST_TEST(csv.output.find("\nreason,,referral,5,,,,\n") != std::string::npos, csv.output);
  BOOST_TEST(
      csv.output.find("\nreferrer,,blog.partner.example,5,0,0,mapping,") != std::string::npos,
      csv.output);
  BOOST_TEST(csv.output.find("\nmedium,,weekly-newsletter,1,,,nothing,") != std::string::npos,
             csv.output);
  // Today's row counts the six.
  auto today = c->get("/insights?account_id=acme").json()["data"]["to"].GetString();
  BOOST_TEST(
      csv.output.find(std::string("\nday,") + today + ",resolutions,6,") != std::string::npos,
      csv.output);
  // The server decides what is refused; a wrong command line is exit 2.
  auto refused = referralctl("insights --from 2020-13-01" + common);
  BOOST_TEST(refused.exit == 1, refused.output);
  BOOST_TEST(refused.output.find("from") != std::string::npos, refused.output);
  BOOST_TEST(referralctl("insights --format xml" + common).exit == 2);
  BOOST_TEST(referralctl("insights --server http://127.0.0.1:1 --key k").exit == 2);
}

BOOST_AUTO_TEST_CASE(a_range_that_is_not_one_is_a_400_naming_the_field) {
  auto c = client();
  auto bad = c->get("/insights?account_id=acme&from=2026-02-30");
  BOOST_TEST(bad.status == 400u);
  BOOST_TEST(names_field(bad, "from"));
  auto backwards = c->get("/insights?account_id=acme&from=2026-03-02&to=2026-03-01");
  BOOST_TEST(backwards.status == 400u);
  BOOST_TEST(names_field(backwards, "to"));
  auto long_range = c->get("/insights/referrers?account_id=acme&from=2026-01-01&to=2026-03-01");
  BOOST_TEST(long_range.status == 400u);
  BOOST_TEST(names_field(long_range, "to"));
  auto limit = c->get("/insights/referrers?account_id=acme&limit=0");
  BOOST_TEST(limit.status == 400u);
  BOOST_TEST(names_field(limit, "limit"));
  BOOST_TEST(c->get("/insights").status == 400u);
}

BOOST_AUTO_TEST_SUITE_END()
