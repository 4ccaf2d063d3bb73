// Bulk import and export of rules, and the passthrough starter pack, end to end.

#include <boost/test/unit_test.hpp>
#include <string>

#include "tests/http/fixture.hpp"

using namespace referrald::testing;

namespace {

const std::string k_mappings = "/referrer-mappings?account_id=acme";
const std::string k_import = "/referrer-mappings/import?account_id=acme";
const std::string k_export = "/referrer-mappings/export?account_id=acme";
const std::string k_referrers_import = "/passthrough-referrers/import?account_id=acme";

std::uint64_t head_seq(http_client& c) {
  auto r = c.get("/audit-log?account_id=acme&limit=1");
  BOOST_REQUIRE(r.status == 200u);
  return r.json()["data"]["head_seq"].GetUint64();
}

std::string summary(const http_reply& r) {
  auto d = r.json();
  const auto& s = d["data"];
  return std::to_string(s["created"].GetInt()) + "/" + std::to_string(s["updated"].GetInt()) + "/" +
         std::to_string(s["deleted"].GetInt()) + "/" + std::to_string(s["unchanged"].GetInt());
}

http_reply post_csv(http_client& c, const std::string& target, const std::string& csv) {
  return c.request("POST", target, csv, {{"Content-Type", "text/csv"}});
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(import_export, server_fixture)

BOOST_AUTO_TEST_CASE(create_upsert_and_replace_write_one_event_per_changed_rule) {
  auto c = client();
  auto created = c->post(k_import, R"({"mappings":[
      {"referrer_pattern":"a.com","utm_source":"a"},
      {"referrer_pattern":"b.com","match_type":"ends_with","utm_source":"b","priority":5},
      {"referrer_pattern":"c.com","utm_source":"c"}]})");
  BOOST_TEST(created.status == 200u, created.body);
  BOOST_TEST(summary(created) == "3/0/0/0");
  BOOST_TEST(head_seq(*c) == 3u);

  // upsert: a.com unchanged, b.com updated (keeps its id), d.com created.
  auto upserted = c->post(k_import, R"({"mode":"upsert","mappings":[
      {"referrer_pattern":"a.com","utm_source":"a"},
      {"referrer_pattern":"B.com","match_type":"ends_with","utm_source":"b2","priority":5},
      {"referrer_pattern":"d.com","utm_source":"d"}]})");
  BOOST_TEST(upserted.status == 200u, upserted.body);
  BOOST_TEST(summary(upserted) == "1/1/0/1");
  BOOST_TEST(head_seq(*c) == 5u);
  auto b = c->get("/referrer-mappings/2?account_id=acme").json();
  BOOST_TEST(b["data"]["utm_source"].GetString() == std::string("b2"));
  auto audit = c->get("/audit-log?account_id=acme&after_seq=3").json();
  BOOST_TEST(audit["data"]["events"][0]["type"].GetString() ==
             std::string("referrer_mapping.updated"));
  BOOST_TEST(audit["data"]["events"][0]["changed"][0].GetString() == std::string("utm_source"));

  // replace: the account's mappings become exactly the file.
  auto replaced = c->post(k_import, R"({"mode":"replace","mappings":[
      {"referrer_pattern":"a.com","utm_source":"a"},
      {"referrer_pattern":"e.com","utm_source":"e","is_active":false}]})");
  BOOST_TEST(replaced.status == 200u, replaced.body);
  BOOST_TEST(summary(replaced) == "1/0/3/1");
  auto list = c->get(k_mappings + "&include_inactive=true").json();
  BOOST_REQUIRE(list["data"]["mappings"].Size() == 2u);
  BOOST_TEST(list["data"]["mappings"][0]["referrer_pattern"].GetString() == std::string("a.com"));
  BOOST_TEST(list["data"]["mappings"][1]["referrer_pattern"].GetString() == std::string("e.com"));
  BOOST_TEST(list["data"]["mappings"][1]["id"].GetInt() == 5);  // ids are never reused
  BOOST_TEST(head_seq(*c) == 9u);
}

BOOST_AUTO_TEST_CASE(one_bad_row_fails_the_whole_import_and_stores_nothing) {
  auto c = client();
  c->post(k_mappings, R"({"referrer_pattern":"keep.com","utm_source":"k"})");
  auto bad = c->post(k_import, R"({"mode":"upsert","mappings":[
      {"referrer_pattern":"a.com","utm_source":"a"},
      {"referrer_pattern":"b.com","utm_source":"b","priority":1001},
      {"referrer_pattern":"co.uk","match_type":"ends_with","utm_source":"c"},
      {"referrer_pattern":"A.COM","utm_source":"again"}]})");
  BOOST_TEST(bad.status == 400u, bad.body);
  BOOST_TEST(names_field(bad, "mappings[1].priority"));
  BOOST_TEST(names_field(bad, "mappings[2].referrer_pattern"));
  BOOST_TEST(names_field(bad, "mappings[3].referrer_pattern"));  // a.com given twice
  BOOST_TEST(head_seq(*c) == 1u);
  // Mode create refuses rows that exist (409 naming them); nothing is stored either.
  auto taken = c->post(k_import, R"({"mappings":[{"referrer_pattern":"new.com","utm_source":"n"},
                                                 {"referrer_pattern":"keep.com","utm_source":"k"}]})");
  BOOST_TEST(taken.status == 409u, taken.body);
  BOOST_TEST(names_field(taken, "mappings[1].referrer_pattern"));
  BOOST_TEST(taken.body.find("1 rule(s)") != std::string::npos, taken.body);
  BOOST_TEST(head_seq(*c) == 1u);
  // Not a list, an empty list, an unknown mode or field: 400 naming it.
  BOOST_TEST(names_field(c->post(k_import, R"({"mappings":{}})"), "mappings"));
  BOOST_TEST(names_field(c->post(k_import, R"({"mappings":[]})"), "mappings"));
  BOOST_TEST(names_field(c->post(k_import, R"({"mode":"merge","mappings":[{}]})"), "mode"));
  BOOST_TEST(names_field(c->post(k_import, R"({"rules":[]})"), "rules"));
  BOOST_TEST(names_field(c->post(k_import + "&mode=upsert", R"({"mappings":[]})"), "mode"));
}

BOOST_AUTO_TEST_CASE(validate_only_answers_the_same_and_writes_nothing) {
  auto c = client();
  c->post(k_mappings, R"({"referrer_pattern":"a.com","utm_source":"a"})");
  auto dry = c->post(k_import, R"({"mode":"replace","validate_only":true,"mappings":[
      {"referrer_pattern":"b.com","utm_source":"b"}]})");
  BOOST_TEST(dry.status == 200u, dry.body);
  BOOST_TEST(summary(dry) == "1/0/1/0");
  BOOST_TEST(dry.json()["data"]["validate_only"].GetBool());
  BOOST_TEST(head_seq(*c) == 1u);
  BOOST_TEST(c->get(k_mappings).json()["data"]["total"].GetInt() == 1);
}

BOOST_AUTO_TEST_CASE(csv_imports_with_quoting_and_names_bad_cells) {
  auto c = client();
  auto r =
      post_csv(*c, k_import,
               "\xEF\xBB\xBFreferrer_pattern,utm_source,label,description,priority,is_active\r\n"
               "a.com,a,\"Partner, \"\"A\"\"\",,10,true\r\n"
               "b.com,b,\"x,y\",about b,0,FALSE\n");
  BOOST_TEST(r.status == 200u, r.body);
  BOOST_TEST(summary(r) == "2/0/0/0");
  auto a_doc = c->get("/referrer-mappings/1?account_id=acme").json();
  const auto& a = a_doc["data"];
  BOOST_TEST(a["label"].GetString() == std::string("Partner, \"A\""));
  BOOST_TEST(a["description"].IsNull());  // an empty cell of a nullable field
  BOOST_TEST(a["priority"].GetInt() == 10);
  auto b_doc = c->get("/referrer-mappings/2?account_id=acme").json();
  const auto& b = b_doc["data"];
  BOOST_TEST(b["label"].GetString() == std::string("x,y"));
  BOOST_TEST(!b["is_active"].GetBool());

  auto unknown = post_csv(*c, k_import, "referrer_pattern,utm_source,colour\nx.com,x,red\n");
  BOOST_TEST(unknown.status == 400u);
  BOOST_TEST(names_field(unknown, "colour"));
  auto cells = post_csv(*c, k_import, "referrer_pattern,utm_source\nx.com\n");
  BOOST_TEST(names_field(cells, "mappings[0]"));
  auto number = post_csv(*c, k_import, "referrer_pattern,utm_source,priority\nx.com,x,high\n");
  BOOST_TEST(names_field(number, "mappings[0].priority"));
  // A line break inside a quoted cell is CSV, but a control character in a rule field.
  auto newline = post_csv(*c, k_import, "referrer_pattern,utm_source,label\nx.com,x,\"a\nb\"\n");
  BOOST_TEST(names_field(newline, "mappings[0].label"));
  auto quote = post_csv(*c, k_import, "referrer_pattern,utm_source\n\"x.com,x\n");
  BOOST_TEST(quote.status == 400u);
  BOOST_TEST(quote.body.find("line 2") != std::string::npos, quote.body);
  BOOST_TEST(head_seq(*c) == 2u);
}

BOOST_AUTO_TEST_CASE(what_export_writes_import_reads_back_to_the_same_rules) {
  auto c = client();
  c->post(k_import, R"({"mappings":[
      {"referrer_pattern":"a.com","utm_source":"a","label":"Comma, \"quoted\"","description":"d"},
      {"referrer_pattern":"^shop[0-9]+\\.x\\.com$","match_type":"regex","utm_source":"r"},
      {"referrer_pattern":"news.","match_type":"starts_with","utm_source":"n","priority":7},
      {"referrer_pattern":"off.com","utm_source":"o","is_active":false},
      {"referrer_pattern":"f.com","utm_source":"@f","utm_campaign":"=1+2","label":"+x",
       "description":"'=y"}]})");
  // Values a spreadsheet would run as formulas are written as text (OWASP), and read back.
  std::string csv_export = c->get(k_export + "&format=csv").body;
  BOOST_TEST(csv_export.find(",'@f,") != std::string::npos, csv_export);
  BOOST_TEST(csv_export.find(",'=1+2,") != std::string::npos, csv_export);
  BOOST_TEST(csv_export.find(",'+x,") != std::string::npos, csv_export);
  BOOST_TEST(csv_export.find(",''=y,") != std::string::npos, csv_export);
  for (std::string format : {"json", "csv"}) {
    std::string exported = c->get(k_export + "&format=" + format + "&include_inactive=true").body;
    std::string account = "copy-" + format;
    std::string target = "/referrer-mappings/import?account_id=" + account;
    auto back = format == "csv" ? post_csv(*c, target + "&mode=replace", exported)
                                : c->post(target, exported);
    BOOST_TEST(back.status == 200u, back.body);
    BOOST_TEST(summary(back) == "5/0/0/0");
    std::string again = c->get("/referrer-mappings/export?account_id=" + account +
                               "&format=" + format + "&include_inactive=true")
                            .body;
    BOOST_TEST(again == exported);
  }
  // Without include_inactive, only the active rules; an unknown format is a 400.
  auto active = c->get(k_export).json();
  BOOST_TEST(active["mappings"].Size() == 4u);
  BOOST_TEST(names_field(c->get(k_export + "&format=xml"), "format"));
  auto csv = c->get(k_export + "&format=csv");
  BOOST_TEST(csv.headers["content-type"].find("text/csv") == 0u);
  BOOST_TEST(csv.headers["content-disposition"].find("acme-mappings.csv") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_starter_pack_is_listed_with_sources_and_applied_as_an_upsert) {
  auto c = client();
  auto pack = c->get("/passthrough-referrers/starter-pack").json();
  const auto& entries = pack["data"]["entries"];
  BOOST_REQUIRE(entries.Size() >= 60u);
  for (const auto& e : entries.GetArray()) {
    std::string source = e["source"].GetString();
    BOOST_TEST((source.starts_with("https://") || source.starts_with("github:")), source);
  }
  auto applied = c->post(k_referrers_import + "&pack=starter", "");
  BOOST_TEST(applied.status == 200u, applied.body);
  BOOST_TEST(applied.json()["data"]["created"].GetUint() == entries.Size());
  auto again = c->post(k_referrers_import + "&pack=starter", "");
  BOOST_TEST(again.json()["data"]["unchanged"].GetUint() == entries.Size());
  // A visit back from the payment page keeps the session's campaign.
  auto visit = c->post("/attribution/resolve?account_id=acme",
                       R"({"referrer":"https://www.paypal.com/checkoutnow?token=x",
                           "landing_url":"https://shop.example/thanks",
                           "session":{"utm_source":"newsletter","utm_medium":"email"}})");
  BOOST_TEST(visit.json()["data"]["reason"].GetString() == std::string("passthrough_session"));
  BOOST_TEST(names_field(c->post(k_referrers_import + "&pack=premium", ""), "pack"));
  BOOST_TEST(
      names_field(c->post("/referrer-mappings/import?account_id=acme&pack=starter", ""), "pack"));
}

BOOST_AUTO_TEST_CASE(imports_need_write_access_and_keep_the_regex_quota) {
  std::string viewer = make_key("viewer");
  auto v = client(viewer);
  BOOST_TEST(
      v->post(k_import, R"({"mappings":[{"referrer_pattern":"a.com","utm_source":"a"}]})").status ==
      403u);
  BOOST_TEST(v->get(k_export).status == 200u);
  server->stop(SIGTERM);
  start({"--max-regex-mappings", "2"});  // the option's earlier name, still read
  auto c = client();
  auto over = c->post(k_import, R"({"mappings":[
      {"referrer_pattern":"^a","match_type":"regex","utm_source":"a"},
      {"referrer_pattern":"^b","match_type":"regex","utm_source":"b"},
      {"referrer_pattern":"^c","match_type":"regex","utm_source":"c"}]})");
  BOOST_TEST(over.status == 409u, over.body);
  BOOST_TEST(c->get(k_mappings).json()["data"]["total"].GetInt() == 0);
}

BOOST_AUTO_TEST_CASE(referralctl_imports_and_exports_through_the_api) {
  std::string url = "--server http://127.0.0.1:" + std::to_string(server->port());
  std::string key = std::string(" --key ") + admin_secret;
  std::string csv = dir.sub("rules.csv");
  {
    std::FILE* f = std::fopen(csv.c_str(), "wb");
    BOOST_REQUIRE(f != nullptr);
    std::fputs("domain,utm_source\npay.example.com,pay\nlogin.example.com,login\n", f);
    std::fclose(f);
  }
  std::string common = " --entity passthrough-referrers --account acme " + url + key;
  auto dry = referralctl("import --file " + csv + " --validate-only" + common);
  BOOST_TEST(dry.exit == 0, dry.output);
  BOOST_TEST(dry.output.find(R"("created":2)") != std::string::npos, dry.output);
  auto done = referralctl("import --file " + csv + " --mode upsert" + common);
  BOOST_TEST(done.exit == 0, done.output);
  auto again = referralctl("import --file " + csv + common);  // mode create: both exist
  BOOST_TEST(again.exit == 1, again.output);
  BOOST_TEST(again.output.find("409") != std::string::npos, again.output);
  std::string json = dir.sub("rules.json");
  auto exported = referralctl("export --out " + json + common);
  BOOST_TEST(exported.exit == 0, exported.output);
  auto copied = referralctl("import --file " + json +
                            " --entity passthrough-referrers --account beta " + url + key);
  BOOST_TEST(copied.exit == 0, copied.output);
  auto c = client();
  BOOST_TEST(c->get("/passthrough-referrers/export?account_id=beta").body ==
             c->get("/passthrough-referrers/export?account_id=acme").body);
  // The server decides: a viewer's key is refused; a wrong command line is exit 2.
  std::string viewer = make_key("viewer");
  auto refused = referralctl("import --file " + csv +
                             " --entity passthrough-referrers "
                             "--account acme " +
                             url + " --key " + viewer);
  BOOST_TEST(refused.exit == 1, refused.output);
  BOOST_TEST(refused.output.find("403") != std::string::npos, refused.output);
  BOOST_TEST(referralctl("import --file " + csv + " --entity rules --account acme" + key).exit ==
             2);
  BOOST_TEST(
      referralctl("export --entity referrer-mappings --account acme --format xml" + key).exit == 2);
}

BOOST_AUTO_TEST_CASE(an_import_over_ten_thousand_rows_is_refused_whole) {
  auto c = client();
  std::string json = R"({"mappings":[)";
  std::string csv = "referrer_pattern,utm_source\n";
  for (int i = 0; i <= 10000; ++i) {
    json += (i ? "," : "") + std::string(R"({"referrer_pattern":"r)") + std::to_string(i) +
            R"(.example.com","utm_source":"s"})";
    csv += "r" + std::to_string(i) + ".example.com,s\n";
  }
  json += "]}";
  auto too_many = c->post(k_import, json);
  BOOST_TEST(too_many.status == 400u);
  BOOST_TEST(names_field(too_many, "mappings"));
  auto too_many_csv = post_csv(*c, k_import, csv);
  BOOST_TEST(too_many_csv.status == 400u, too_many_csv.body.substr(0, 300));
  BOOST_TEST(head_seq(*c) == 0u);
}

// Each unknown header column added a detail, and the message repeated them all: a 1.9 MB
// header gave a 106 MB answer.
BOOST_AUTO_TEST_CASE(an_import_error_lists_at_most_a_hundred_problems_however_many_there_are) {
  auto c = client();
  std::string header = "referrer_pattern,utm_source";
  for (int i = 0; i < 20000; ++i)
    header += ",unknown_column_" + std::to_string(i) + std::string(80, 'x');
  for (const std::string& target : {k_import, std::string("/channel-rules/import?account_id=acme"),
                                    std::string("/passthrough-referrers/import?account_id=acme")}) {
    auto r = post_csv(*c, target, header + "\na.com,a\n");
    BOOST_TEST(r.status == 400u);
    BOOST_TEST(r.body.size() < 64u * 1024, target << ": " << r.body.size() << " bytes");
    auto d = r.json();
    const auto& details = d["error"]["details"];
    BOOST_REQUIRE(details.Size() == 101u);
    // 20,000 unknown columns (20,001 for passthrough referrers, which take no
    // referrer_pattern): the first 100 listed, the rest counted.
    std::string more = target.find("passthrough") != std::string::npos ? "19901" : "19900";
    BOOST_TEST(details[100]["message"].GetString() == "and " + more + " more problems not listed");
    BOOST_TEST(d["error"]["message"].GetStringLength() < 1500u);
  }
  // The same holds for the JSON form's rows.
  std::string rows = R"({"mappings":[)";
  for (int i = 0; i < 5000; ++i)
    rows += std::string(i > 0 ? "," : "") + R"({"referrer_pattern":"","utm_source":""})";
  rows += "]}";
  auto r = c->post(k_import, rows);
  BOOST_TEST(r.status == 400u);
  BOOST_TEST(r.body.size() < 64u * 1024, r.body.size());
  BOOST_TEST(r.json()["error"]["details"].Size() == 101u);
  BOOST_TEST(head_seq(*c) == 0u);
}

// An empty export could not be imported ({"mode":"replace","channel_rules":[]} and a
// header-only CSV were 400s), so replace could not empty an account.
BOOST_AUTO_TEST_CASE(an_empty_export_imports_back_with_replace_and_empties_the_kind) {
  auto c = client();
  struct kind {
    std::string base, list, row;
  };
  for (const auto& k :
       {kind{"/referrer-mappings", "mappings", R"({"referrer_pattern":"a.com","utm_source":"a"})"},
        kind{"/passthrough-referrers", "referrers",
             R"({"domain":"pay.example","utm_source":"pay"})"},
        kind{"/channel-rules", "channel_rules",
             R"({"name":"n","channel":"N","utm_source":["n"]})"}}) {
    for (std::string format : {"json", "csv"}) {
      auto made = c->post(k.base + "/import?account_id=full",
                          R"({"mode":"upsert",")" + k.list + R"(":[)" + k.row + "]}");
      BOOST_REQUIRE_MESSAGE(made.status == 200u, made.body);
      std::string empty = c->get(k.base + "/export?account_id=nobody&format=" + format).body;
      // Any other mode still wants rows: an empty create or upsert is a mistake.
      auto create = format == "csv" ? post_csv(*c, k.base + "/import?account_id=full", empty)
                                    : c->post(k.base + "/import?account_id=full", empty);
      BOOST_TEST(create.status == 400u, k.base << " " << format << ": " << create.body);
      BOOST_TEST(names_field(create, k.list), create.body);
      auto replaced = format == "csv"
                          ? post_csv(*c, k.base + "/import?account_id=full&mode=replace", empty)
                          : c->post(k.base + "/import?account_id=full",
                                    R"({"mode":"replace",")" + k.list + R"(":[]})");
      BOOST_TEST(replaced.status == 200u, k.base << " " << format << ": " << replaced.body);
      BOOST_TEST(c->get(k.base + "/export?account_id=full&format=" + format).body == empty);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
