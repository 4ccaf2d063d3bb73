// The channel-rule and settings families end to end: validation messages, ETag and
// If-Match, import and export (JSON and CSV), as_of, the audit log, referralctl, a restart
// from snapshots, and their effect on resolution.

#include <signal.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <thread>

#include "tests/http/fixture.hpp"
#include "tests/support/eventually.hpp"

using namespace referrald;
using namespace referrald::testing;

namespace {

const std::string k_rules = "/channel-rules?account_id=acme";
const std::string k_settings = "/settings?account_id=acme";

std::string resolve_channel(http_client& c, const std::string& visit) {
  auto r = c.post("/attribution/resolve?account_id=acme", visit);
  BOOST_REQUIRE_MESSAGE(r.status == 200u, r.body);
  return r.json()["data"]["channel"].GetString();
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(channels_and_settings, server_fixture)

BOOST_AUTO_TEST_CASE(channel_rules_are_validated_with_messages_naming_the_field) {
  auto c = client();
  auto none = c->post(k_rules, R"({"name":"n","channel":"X"})");
  BOOST_TEST(none.status == 400u);
  BOOST_TEST(names_field(none, "channel"), none.body);
  BOOST_TEST(none.body.find("at least one condition") != std::string::npos, none.body);
  auto path = c->post(k_rules, R"({"name":"n","channel":"X","landing_path_prefix":"jobs"})");
  BOOST_TEST(path.status == 400u);
  BOOST_TEST(names_field(path, "landing_path_prefix"), path.body);
  auto re =
      c->post(k_rules, R"({"name":"n","channel":"X","referrer_pattern":"(","match_type":"regex"})");
  BOOST_TEST(re.status == 400u);
  BOOST_TEST(names_field(re, "referrer_pattern"), re.body);
  auto item = c->post(k_rules, R"({"name":"n","channel":"X","utm_medium":["email",7]})");
  BOOST_TEST(item.status == 400u);
  BOOST_TEST(names_field(item, "utm_medium[1]"), item.body);
  auto click = c->post(k_rules, R"({"name":"n","channel":"X","click_id":"sometimes"})");
  BOOST_TEST(click.status == 400u);
  BOOST_TEST(names_field(click, "click_id"), click.body);
  auto unknown = c->post(k_rules, R"({"name":"n","channel":"X","utm_medium":["a"],"colour":1})");
  BOOST_TEST(unknown.status == 400u);
  BOOST_TEST(names_field(unknown, "colour"), unknown.body);
  // Not UTF-8 (a lone surrogate, escaped), a '|' (the CSV list separator), null for a list.
  auto lone = c->post(k_rules, R"({"name":"n","channel":"x\udc00y","utm_source":["a"]})");
  BOOST_TEST(lone.status == 400u, lone.body);
  BOOST_TEST(names_field(lone, "channel"), lone.body);
  auto bar = c->post(k_rules, R"({"name":"n","channel":"X","utm_source":["a|b"]})");
  BOOST_TEST(names_field(bar, "utm_source[0]"), bar.body);
  auto null_list = c->post(k_rules, R"({"name":"n","channel":"X","utm_source":null})");
  BOOST_TEST(names_field(null_list, "utm_source"), null_list.body);
  auto latin1 = c->request("POST", "/channel-rules/import?account_id=acme",
                           "name,channel,utm_source\r\ncaf\xe9,C,a\r\n",
                           {{"Content-Type", "text/csv; charset=iso-8859-1"}});
  BOOST_TEST(latin1.status == 415u, latin1.body);
  auto raw =
      c->request("POST", "/channel-rules/import?account_id=acme",
                 "name,channel,utm_source\r\ncaf\xe9,C,a\r\n", {{"Content-Type", "text/csv"}});
  BOOST_TEST(raw.status == 400u, raw.body);
  BOOST_TEST(raw.body.find("not UTF-8") != std::string::npos, raw.body);
  // A match type without a pattern is stored as the default.
  auto typed =
      c->post(k_rules, R"({"name":"typed","channel":"X","utm_source":["a"],"match_type":"regex"})");
  BOOST_REQUIRE_MESSAGE(typed.status == 201u, typed.body);
  BOOST_TEST(std::string(typed.json()["data"]["match_type"].GetString()) == "exact");
  BOOST_REQUIRE(c->del("/channel-rules/1?account_id=acme").status == 204u);
  // Values are trimmed, lowercased and listed once.
  auto ok = c->post(k_rules, R"({"name":"Mail","channel":"Newsletter",
                                 "utm_medium":[" Email ","email","NEWSLETTER"]})");
  BOOST_REQUIRE_MESSAGE(ok.status == 201u, ok.body);
  auto created = ok.json();  // the document the object below is a view into
  auto d = created["data"].GetObject();
  BOOST_TEST(d["utm_medium"].Size() == 2u);
  BOOST_TEST(d["id"].GetInt64() == 2);
  BOOST_TEST(std::string(d["utm_medium"][1].GetString()) == "newsletter");
  BOOST_TEST(std::string(d["click_id"].GetString()) == "any");
  BOOST_TEST(d["referrer_pattern"].IsNull());
  // The name is the unique key; a patch that removes the last condition is refused.
  auto dup = c->post(k_rules, R"({"name":"Mail","channel":"Y","utm_source":["a"]})");
  BOOST_TEST(dup.status == 409u);
  BOOST_TEST(names_field(dup, "name"), dup.body);
  auto emptied = c->patch("/channel-rules/2?account_id=acme", R"({"utm_medium":[]})");
  BOOST_TEST(emptied.status == 400u, emptied.body);
  BOOST_TEST(c->get("/channel-rules/2?account_id=acme").json()["data"]["utm_medium"].Size() == 2u);
}

// The rules' times are the server's clock's, which the test moves.
BOOST_FIXTURE_TEST_CASE(channel_rules_decide_the_channel_and_travel_in_time, in_process_fixture) {
  auto c = client();
  auto tick = [&] {
    clock.advance(std::chrono::milliseconds(5));
  };
  std::string visit =
      R"({"referrer":null,"landing_url":"https://acme.example/?utm_source=x&utm_medium=email"})";
  BOOST_TEST(resolve_channel(*c, visit) == "Email");
  tick();
  std::string before = in_ms(0);
  tick();
  auto created =
      c->post(k_rules, R"({"name":"Mail","channel":"Newsletter","utm_medium":["email"]})");
  BOOST_REQUIRE_MESSAGE(created.status == 201u, created.body);
  BOOST_TEST(resolve_channel(*c, visit) == "Newsletter");
  // ETag and If-Match.
  auto got = c->get("/channel-rules/1?account_id=acme");
  std::string etag = got.headers["etag"];
  BOOST_REQUIRE(!etag.empty());
  auto changed = c->request("PATCH", "/channel-rules/1?account_id=acme", R"({"channel":"Mail"})",
                            {{"If-Match", etag}});
  BOOST_REQUIRE_MESSAGE(changed.status == 200u, changed.body);
  auto stale = c->request("PATCH", "/channel-rules/1?account_id=acme", R"({"channel":"Z"})",
                          {{"If-Match", etag}});
  BOOST_TEST(stale.status == 412u);
  BOOST_TEST(resolve_channel(*c, visit) == "Mail");
  // As of before the rule: the default group, and no rule listed.
  auto old = c->post("/attribution/resolve?account_id=acme&as_of=" + before, visit);
  BOOST_REQUIRE_MESSAGE(old.status == 200u, old.body);
  BOOST_TEST(std::string(old.json()["data"]["channel"].GetString()) == "Email");
  BOOST_TEST(old.json()["data"]["channel_rule"].IsNull());
  BOOST_TEST(c->get(k_rules + "&as_of=" + before).json()["data"]["total"].GetUint64() == 0u);
  // Explain names the rule.
  auto explained = c->post("/attribution/resolve?account_id=acme&explain=true", visit);
  BOOST_TEST(explained.body.find("channel rule 1 ('Mail'") != std::string::npos, explained.body);
  // The audit log has every change.
  auto audit = c->get("/audit-log?account_id=acme");
  BOOST_TEST(audit.body.find("channel_rule.created") != std::string::npos, audit.body);
  BOOST_TEST(audit.body.find("channel_rule.updated") != std::string::npos, audit.body);
  BOOST_TEST(c->del("/channel-rules/1?account_id=acme").status == 204u);
  BOOST_TEST(resolve_channel(*c, visit) == "Email");
}

BOOST_AUTO_TEST_CASE(channel_rules_export_and_import_back_in_json_and_csv) {
  auto c = client();
  BOOST_REQUIRE(
      c->post(
           k_rules,
           R"({"name":"Mail","channel":"Newsletter","utm_medium":["email","newsletter"],"priority":3})")
          .status == 201u);
  BOOST_REQUIRE(
      c->post(
           k_rules,
           R"({"name":"Partners, \"EU\"","channel":"Partners","referrer_pattern":"partner.example","match_type":"ends_with","click_id":"absent","landing_path_prefix":"/p"})")
          .status == 201u);
  std::string listed = c->get(k_rules).body;
  for (const char* format : {"json", "csv"}) {
    auto exported = c->get("/channel-rules/export?account_id=acme&format=" + std::string(format));
    BOOST_REQUIRE_MESSAGE(exported.status == 200u, exported.body);
    std::string account = std::string("copy") + format;
    auto r = c->request(
        "POST", "/channel-rules/import?account_id=" + account, exported.body,
        {{"Content-Type", std::string(format) == "csv" ? "text/csv" : "application/json"}});
    BOOST_REQUIRE_MESSAGE(r.status == 200u, format << ": " << r.body);
    BOOST_TEST(r.json()["data"]["created"].GetUint64() == 2u, format);
    auto again = c->get("/channel-rules?account_id=" + account).json();
    auto mine = c->get(k_rules).json();
    for (rapidjson::SizeType i = 0; i < 2; ++i) {
      auto& a = again["data"]["channel_rules"][i];
      auto& b = mine["data"]["channel_rules"][i];
      for (const char* f : {"name", "channel", "utm_medium", "referrer_pattern", "match_type",
                            "click_id", "landing_path_prefix", "priority"}) {
        BOOST_TEST((a[f] == b[f]), format << " " << f);
      }
    }
  }
  // A bad row fails the whole import and names the row.
  auto bad = c->post(
      "/channel-rules/import?account_id=acme",
      R"({"mode":"upsert","channel_rules":[{"name":"A","channel":"A","utm_source":["a"]},{"name":"B","channel":"B"}]})");
  BOOST_TEST(bad.status == 400u);
  BOOST_TEST(bad.body.find("channel_rules[1]") != std::string::npos, bad.body);
  BOOST_TEST(c->get(k_rules).body == listed);
}

BOOST_AUTO_TEST_CASE(referralctl_exports_and_imports_channel_rules_through_the_api) {
  auto c = client();
  BOOST_REQUIRE(
      c->post(k_rules,
              R"({"name":"Mail","channel":"Newsletter","utm_medium":["email","newsletter"]})")
          .status == 201u);
  std::string url = "--server http://127.0.0.1:" + std::to_string(server->port());
  std::string key = std::string(" --key ") + admin_secret;
  for (const char* ext : {"json", "csv"}) {
    std::string file = dir.sub(std::string("channels.") + ext);
    auto exported = referralctl("export --entity channel-rules --account acme --format " +
                                std::string(ext) + " --out " + file + " " + url + key);
    BOOST_REQUIRE_MESSAGE(exported.exit == 0, exported.output);
    std::string account = std::string("to") + ext;
    auto imported = referralctl("import --entity channel-rules --account " + account + " --file " +
                                file + " " + url + key);
    BOOST_REQUIRE_MESSAGE(imported.exit == 0, imported.output);
    BOOST_TEST(c->get("/channel-rules/export?account_id=" + account).body ==
               c->get("/channel-rules/export?account_id=acme").body);
  }
  // Settings are not a list: they have no import or export.
  BOOST_TEST(referralctl("export --entity settings --account acme " + url + key).exit == 2);
}

BOOST_FIXTURE_TEST_CASE(settings_start_as_the_defaults_and_change_like_the_rules,
                        in_process_fixture) {
  auto c = client();
  auto tick = [&] {
    clock.advance(std::chrono::milliseconds(5));
  };
  auto defaults = c->get(k_settings);
  BOOST_REQUIRE_MESSAGE(defaults.status == 200u, defaults.body);
  auto d = defaults.json();
  BOOST_TEST(d["data"]["known_referrers"].GetBool());
  BOOST_TEST(d["data"]["default_channel_group"].GetBool());
  BOOST_TEST(d["data"]["own_domains"].Size() == 0u);
  BOOST_TEST(d["data"]["updated_at"].IsNull());
  BOOST_TEST(!d["data"].HasMember("id"));
  std::string etag = defaults.headers["etag"];
  BOOST_REQUIRE(!etag.empty());
  // Bad values name the item; nothing is stored.
  auto bad = c->patch(k_settings, R"({"own_domains":["acme.example","co.uk"]})");
  BOOST_TEST(bad.status == 400u);
  BOOST_TEST(names_field(bad, "own_domains[1]"), bad.body);
  auto preset = c->patch(k_settings, R"({"campaign_parameter_presets":["piwik"]})");
  BOOST_TEST(names_field(preset, "campaign_parameter_presets[0]"), preset.body);
  auto param = c->patch(k_settings, R"({"source_parameters":["a=b"]})");
  BOOST_TEST(names_field(param, "source_parameters[0]"), param.body);
  auto unknown = c->patch(k_settings, R"({"updated_at":"2026-01-01T00:00:00Z"})");
  BOOST_TEST(unknown.status == 400u);
  // A patch that changes nothing writes nothing.
  BOOST_TEST(c->patch(k_settings, R"({"known_referrers":true})").status == 200u);
  BOOST_TEST(c->get("/audit-log?account_id=acme").body.find("account_settings") ==
             std::string::npos);
  std::string visit =
      R"({"referrer":"https://shop.acme.example/cart","landing_url":"https://blog.acme.example/"})";
  auto before_r = c->post("/attribution/resolve?account_id=acme", visit).json();
  BOOST_TEST(std::string(before_r["data"]["reason"].GetString()) == "referral");
  tick();
  std::string before = in_ms(0);
  tick();
  auto set = c->request("PATCH", k_settings, R"({"own_domains":["*.acme.example"]})",
                        {{"If-Match", etag}});
  BOOST_REQUIRE_MESSAGE(set.status == 200u, set.body);
  BOOST_TEST(!set.json()["data"]["updated_at"].IsNull());
  auto stale =
      c->request("PATCH", k_settings, R"({"known_referrers":false})", {{"If-Match", etag}});
  BOOST_TEST(stale.status == 412u);
  auto after_r = c->post("/attribution/resolve?account_id=acme", visit).json();
  BOOST_TEST(std::string(after_r["data"]["reason"].GetString()) == "internal");
  BOOST_REQUIRE(c->patch(k_settings, R"({"known_referrers":false})").status == 200u);
  // As of before: the defaults.
  auto then = c->get(k_settings + "&as_of=" + before).json();
  BOOST_TEST(then["data"]["own_domains"].Size() == 0u);
  auto then_r = c->post("/attribution/resolve?account_id=acme&as_of=" + before, visit).json();
  BOOST_TEST(std::string(then_r["data"]["reason"].GetString()) == "referral");
  auto audit = c->get("/audit-log?account_id=acme").body;
  BOOST_TEST(audit.find("account_settings.created") != std::string::npos, audit);
  BOOST_TEST(audit.find("account_settings.updated") != std::string::npos, audit);
  // A viewer reads the settings but cannot change them.
  auto viewer = client(make_key("viewer"));
  BOOST_TEST(viewer->get(k_settings).status == 200u);
  BOOST_TEST(viewer->patch(k_settings, R"({"known_referrers":true})").status == 403u);
}

// A name listed in two slots filled only the first (`ref` as source and medium gave an empty
// medium), a preset's name listed for another slot was lost, and custom names beginning
// with utm_ were accepted and never read.
BOOST_AUTO_TEST_CASE(every_campaign_parameter_fills_one_value_and_utm_names_are_read) {
  auto c = client();
  auto twice = c->patch(k_settings, R"({"source_parameters":["ref"],"medium_parameters":["REF"]})");
  BOOST_TEST(twice.status == 400u);
  BOOST_TEST(names_field(twice, "medium_parameters"), twice.body);
  BOOST_TEST(twice.body.find("already read for utm_source") != std::string::npos, twice.body);
  auto preset =
      c->patch(k_settings,
               R"({"campaign_parameter_presets":["matomo"],"source_parameters":["mtm_medium"]})");
  BOOST_TEST(preset.status == 400u);
  BOOST_TEST(names_field(preset, "source_parameters"), preset.body);
  BOOST_TEST(preset.body.find("by the matomo preset") != std::string::npos, preset.body);
  auto standard = c->patch(k_settings, R"({"term_parameters":["utm_source"]})");
  BOOST_TEST(names_field(standard, "term_parameters"), standard.body);
  // Turning the preset on over custom names it reads for another slot is refused too.
  BOOST_REQUIRE(c->patch(k_settings, R"({"source_parameters":["mtm_medium"]})").status == 200u);
  auto later = c->patch(k_settings, R"({"campaign_parameter_presets":["matomo"]})");
  BOOST_TEST(names_field(later, "source_parameters"), later.body);
  // Other utm_* names are campaign parameters like any other: utm_id, utm_keyword.
  auto set = c->patch(k_settings, R"({"source_parameters":[],"campaign_parameters":["utm_id"],
                                      "term_parameters":["utm_keyword"],
                                      "campaign_parameter_presets":["matomo"]})");
  BOOST_REQUIRE_MESSAGE(set.status == 200u, set.body);
  auto r = c->post("/attribution/resolve?account_id=acme",
                   R"({"landing_url":"https://shop.example/?utm_source=ads&utm_id=spring&)"
                   R"(utm_keyword=shoes&mtm_medium=cpc"})");
  BOOST_REQUIRE(r.status == 200u);
  auto d = r.json();
  BOOST_TEST(d["data"]["utm_source"].GetString() == std::string("ads"));
  BOOST_TEST(d["data"]["utm_medium"].GetString() == std::string("cpc"));
  BOOST_TEST(d["data"]["utm_campaign"].GetString() == std::string("spring"));
  BOOST_TEST(d["data"]["utm_term"].GetString() == std::string("shoes"));
}

// A CSV list cell with an empty item (email||newsletter) dropped it silently, and own_domains
// dropped a network's suffix, a user name or a port without a word.
BOOST_AUTO_TEST_CASE(what_would_be_dropped_silently_is_refused_naming_the_item) {
  auto c = client();
  for (std::string cell : {"email||newsletter", "email|", "|email"}) {
    auto r =
        c->request("POST", "/channel-rules/import?account_id=acme",
                   "name,channel,utm_medium\nn,N," + cell + "\n", {{"Content-Type", "text/csv"}});
    BOOST_TEST(r.status == 400u, cell);
    BOOST_TEST(names_field(r, "channel_rules[0].utm_medium"), r.body);
    BOOST_TEST(r.body.find("empty item") != std::string::npos, r.body);
  }
  BOOST_TEST(c->request("POST", "/channel-rules/import?account_id=acme",
                        "name,channel,utm_medium\nn,N,email| newsletter\n",
                        {{"Content-Type", "text/csv"}})
                 .status == 200u);
  for (std::string domain :
       {"10.0.0.0/8", "user@acme.example", "acme.example:8443", "https://acme.example:443/",
        "acme.example/shop", "*.acme.example:80"}) {
    auto r = c->patch(k_settings, R"({"own_domains":[")" + domain + R"("]})");
    BOOST_TEST(r.status == 400u, domain);
    BOOST_TEST(names_field(r, "own_domains[0]"), r.body);
  }
  // A URL of the site is read for its host, as before.
  auto url =
      c->patch(k_settings, R"({"own_domains":["https://WWW.Acme.example/","*.acme.example"]})");
  BOOST_REQUIRE_MESSAGE(url.status == 200u, url.body);
  auto domains = url.json();
  BOOST_TEST(domains["data"]["own_domains"][0].GetString() == std::string("acme.example"));
  BOOST_TEST(domains["data"]["own_domains"][1].GetString() == std::string("*.acme.example"));
}

BOOST_AUTO_TEST_CASE(both_families_survive_a_restart_from_snapshots_and_replay_offline) {
  server->stop(SIGTERM);
  start({"--snapshot-every", "4"});
  auto c = client();
  for (int i = 0; i < 5; ++i) {
    auto r = c->post(k_rules, R"({"name":"r)" + std::to_string(i) +
                                  R"(","channel":"C","utm_source":["s)" + std::to_string(i) +
                                  R"("],"priority":)" + std::to_string(i) + "}");
    BOOST_REQUIRE_MESSAGE(r.status == 201u, r.body);
  }
  BOOST_REQUIRE(
      c->patch(k_settings,
               R"({"own_domains":["acme.example"],"campaign_parameter_presets":["matomo"]})")
          .status == 200u);
  BOOST_REQUIRE(c->patch(k_settings, R"({"default_channel_group":false})").status == 200u);
  std::string rules = c->get(k_rules + "&include_inactive=true").body;
  std::string settings = c->get(k_settings).body;
  eventually(
      [&] {
        return c->get("/metrics").body.find("referrald_snapshots_written_total 1") !=
               std::string::npos;
      },
      std::chrono::seconds(2));
  BOOST_REQUIRE_EQUAL(server->stop(SIGTERM), 0);
  std::string data = "--data " + dir.sub("data");
  BOOST_TEST(referralctl(data + " verify").exit == 0);
  auto replay = referralctl(data + " replay --account acme --entity settings");
  BOOST_REQUIRE_MESSAGE(replay.exit == 0, replay.output);
  auto live = rapidjson::Document();
  live.Parse(settings.c_str());
  auto offline = rapidjson::Document();
  offline.Parse(replay.output.c_str());
  BOOST_TEST((offline == live["data"]), replay.output);
  auto history = referralctl(data + " history --account acme --entity settings");
  BOOST_REQUIRE_MESSAGE(history.exit == 0, history.output);
  BOOST_TEST(std::count(history.output.begin(), history.output.end(), '\n') == 2);
  auto one = referralctl(data + " history --account acme --entity channel-rules --id 3");
  BOOST_TEST(one.output.find("channel_rule.created") != std::string::npos, one.output);
  start({"--snapshot-every", "4"});
  auto again = client();
  BOOST_TEST(again->get(k_rules + "&include_inactive=true").body == rules);
  BOOST_TEST(again->get(k_settings).body == settings);
  // The highest priority wins; with the default group off, no match is Unassigned.
  BOOST_TEST(
      resolve_channel(*again,
                      R"({"referrer":null,"landing_url":"https://acme.example/?utm_source=s4"})") ==
      "C");
  BOOST_TEST(
      resolve_channel(*again, R"({"referrer":null,"landing_url":"https://acme.example/"})") ==
      "Unassigned");
  BOOST_TEST(
      resolve_channel(*again,
                      R"({"referrer":null,"landing_url":"https://acme.example/?mtm_source=s2"})") ==
      "C");
}

BOOST_AUTO_TEST_SUITE_END()
