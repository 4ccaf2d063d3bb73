// Attribution resolution over HTTP: the golden vectors against the real server, batches,
// explain, auth, and read-your-writes after rule changes.

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "tests/http/fixture.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/strict_json.hpp"

using namespace referrald::testing;

namespace {

std::string to_text(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return buf.GetString();
}

rapidjson::Document load_vectors() {
  std::ifstream in(std::string(REFERRALD_VECTORS_DIR) + "/attribution.json");
  BOOST_REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  rapidjson::Document d;
  d.Parse(ss.str().c_str());
  BOOST_REQUIRE(!d.HasParseError());
  return d;
}

std::string resolve_path(const std::string& account, bool explain = false) {
  return "/attribution/resolve?account_id=" + account + (explain ? "&explain=true" : "");
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(resolve, server_fixture)

BOOST_AUTO_TEST_CASE(golden_vectors_resolve_as_expected_over_http) {
  auto doc = load_vectors();
  auto c = client();
  int n = 0;
  for (const auto& tc : doc["cases"].GetArray()) {
    std::string account = "golden" + std::to_string(++n);
    for (const auto& body : tc["passthrough"].GetArray()) {
      auto r = c->post("/passthrough-referrers?account_id=" + account, to_text(body));
      BOOST_REQUIRE_MESSAGE(r.status == 201u, r.body);
    }
    for (const auto& body : tc["mappings"].GetArray()) {
      auto r = c->post("/referrer-mappings?account_id=" + account, to_text(body));
      BOOST_REQUIRE_MESSAGE(r.status == 201u, r.body);
    }
    if (tc.HasMember("channel_rules")) {
      for (const auto& body : tc["channel_rules"].GetArray()) {
        auto r = c->post("/channel-rules?account_id=" + account, to_text(body));
        BOOST_REQUIRE_MESSAGE(r.status == 201u, r.body);
      }
    }
    if (tc.HasMember("settings")) {
      auto r = c->patch("/settings?account_id=" + account, to_text(tc["settings"]));
      BOOST_REQUIRE_MESSAGE(r.status == 200u, r.body);
    }
    auto r = c->post(resolve_path(account), to_text(tc["visit"]));
    BOOST_REQUIRE_MESSAGE(r.status == 200u, tc["name"].GetString() << ": " << r.body);
    auto got = r.json();
    BOOST_TEST((got["data"] == tc["expected"]), tc["name"].GetString()
                                                    << "\n  got      " << to_text(got["data"])
                                                    << "\n  expected " << to_text(tc["expected"]));
  }
  // An empty or truncated vector file must not pass for a checked one.
  BOOST_TEST(n > 50);
}

// A referrer or landing URL holding U+001A-U+001F was echoed raw into a warning: the
// answer was not JSON for strict parsers.
BOOST_AUTO_TEST_CASE(the_known_referrer_list_is_served_with_its_version) {
  auto c = client();
  auto r = c->get("/known-referrers");
  BOOST_REQUIRE(r.status == 200u);
  auto d = r.json();
  const auto& data = d["data"];
  BOOST_TEST(std::string(data["version"].GetString()).size() == 10u);
  BOOST_TEST(data["lists"].Size() == 3u);
  bool google = false, gclid = false;
  for (const auto& e : data["referrers"].GetArray()) {
    if (std::string(e["name"].GetString()) == "Google" &&
        std::string(e["category"].GetString()) == "search") {
      google = std::string(e["source"].GetString()) == "google";
    }
  }
  for (const auto& e : data["click_ids"].GetArray())
    gclid = gclid || (std::string(e["name"].GetString()) == "gclid" && e["paid"].GetBool());
  BOOST_TEST(google);
  BOOST_TEST(gclid);
  // Any valid key reads it; none does not.
  BOOST_TEST(http_client(server->port()).get("/known-referrers").status == 401u);
}

BOOST_AUTO_TEST_CASE(a_visit_with_control_characters_is_answered_with_valid_json) {
  auto c = client();
  static constexpr char hex[] = "0123456789abcdef";
  std::string batch = R"({"visits":[)";
  for (int ch = 1; ch < 0x20; ++ch) {
    std::string esc = std::string("\\u00") + hex[ch >> 4] + hex[ch & 15];
    std::string visit = R"({"referrer":"https://)" + esc + R"(lookout.net/)" +
                        std::string(200, 'p') + R"(","landing_url":"https://shop.example/)" + esc +
                        R"("})";
    for (bool explain : {false, true}) {
      auto r = c->post(resolve_path("acme", explain), visit);
      BOOST_REQUIRE_MESSAGE(r.status == 200u, r.body);
      BOOST_TEST(rfc8259_problem(r.body) == "", esc << ": " << r.body);
      auto d = r.json();
      // The warning quotes the referrer, cut to 100 code points (tab, LF and CR are
      // removed from URLs as browsers do, and leave nothing to warn about).
      if (ch != '\t' && ch != '\n' && ch != '\r')
        BOOST_TEST(d["data"]["warnings"].Size() >= 1u, r.body);
      for (const auto& w : d["data"]["warnings"].GetArray())
        BOOST_TEST(w.GetStringLength() < 250u, w.GetString());
    }
    batch += std::string(ch > 1 ? "," : "") + visit;
  }
  batch += "]}";
  auto r = c->post("/attribution/resolve-batch?account_id=acme", batch);
  BOOST_REQUIRE_MESSAGE(r.status == 200u, r.body);
  BOOST_TEST(rfc8259_problem(r.body) == "", r.body);
  BOOST_TEST(r.json()["data"]["results"].Size() == 31u);
}

BOOST_AUTO_TEST_CASE(a_batch_answers_in_order_with_errors_per_visit) {
  auto c = client();
  c->post("/referrer-mappings?account_id=acme",
          R"({"referrer_pattern":"partner.com","match_type":"ends_with","utm_source":"partner"})");
  auto r = c->post("/attribution/resolve-batch?account_id=acme", R"({"visits":[
      {"referrer":"https://shop.partner.com/","landing_url":"https://h.example/"},
      {"referrer":"https://x.example/","landing_url":"not a url"},
      {"landing_url":"https://h.example/?utm_source=mail"},
      {"referrer":7,"landing_url":"https://h.example/","unknown":1},
      {"landing_url":"https://h.example/"}]})");
  BOOST_REQUIRE(r.status == 200u);
  auto d = r.json();
  const auto& results = d["data"]["results"];
  BOOST_REQUIRE(results.Size() == 5u);
  BOOST_TEST(results[0]["reason"].GetString() == std::string("mapping"));
  // An unreadable landing URL does not lose the visit: it is resolved, with a warning.
  BOOST_TEST(results[1]["reason"].GetString() == std::string("referral"));
  BOOST_TEST(results[1]["warnings"].Size() == 1u);
  BOOST_TEST(results[2]["reason"].GetString() == std::string("utm"));
  BOOST_TEST(results[3]["error"]["details"].Size() == 2u);
  BOOST_TEST(results[3]["error"]["details"][0]["field"].GetString() ==
             std::string("visits[3].unknown"));
  BOOST_TEST(results[3]["error"]["details"][1]["field"].GetString() ==
             std::string("visits[3].referrer"));
  BOOST_TEST(results[4]["reason"].GetString() == std::string("direct"));
}

// A batch is read the simple way (without a document) unless something in it needs the
// parser: the answers are the same byte for byte either way, every visit's included.
BOOST_AUTO_TEST_CASE(a_batch_answers_alike_however_its_body_is_written) {
  auto c = client();
  c->post("/passthrough-referrers?account_id=acme",
          R"({"domain":"pay.example","utm_source":"pay"})");
  const std::string visits = R"(
      {"referrer":"https://pay.example/x","landing_url":"https://h.example/",
       "session":{"utm_source":"news","utm_medium":null}},
      {"referrer":"https:\/\/pay.example\/x","landing_url":"https://h.example/"},
      {"landing_url":"https://h.example/?utm_source=a","landing_url":"x.example"},
      {"landing_url":"https://h.example/","session":{"utm_source":null,"utm_source":"b"}},
      {"landing_url":"https://h.example/","session":{"utm_id":"1"}},
      {"referrer":null,"landing_url":"https://h.example/?gclid=1","session":null},
      {"referrer":7,"landing_url":"https://h.example/","unknown":1},
      7, null, "x", [],
      {"referrer":"https://www.google.de/","landing_url":"https://h.example/"},
      )";
  // The same last visit, with a number the simple reading leaves to the parser.
  auto simple = c->post("/attribution/resolve-batch?account_id=acme",
                        R"({"visits":[)" + visits + R"({"landing_url":"h.example","n":100}]})");
  auto parsed = c->post("/attribution/resolve-batch?account_id=acme",
                        R"({"visits":[)" + visits + R"({"landing_url":"h.example","n":1e2}]})");
  BOOST_REQUIRE(simple.status == 200u);
  BOOST_REQUIRE(parsed.status == 200u);
  BOOST_TEST(simple.body == parsed.body);
  auto d = simple.json();
  const auto& results = d["data"]["results"];
  BOOST_REQUIRE(results.Size() == 13u);
  BOOST_TEST(results[0]["reason"].GetString() == std::string("passthrough_session"));
  BOOST_TEST(results[1]["reason"].GetString() == std::string("passthrough_fallback"));
  BOOST_TEST(results[11]["utm_source"].GetString() == std::string("google"));
  BOOST_TEST(results[12]["error"]["details"][0]["field"].GetString() ==
             std::string("visits[12].n"));
  BOOST_TEST(results[7]["error"]["details"][0]["field"].GetString() == std::string("visits[7]"));
}

BOOST_AUTO_TEST_CASE(batches_are_validated_as_a_whole) {
  auto c = client();
  auto no_visits = c->post("/attribution/resolve-batch?account_id=acme", R"({"items":[]})");
  BOOST_TEST(no_visits.status == 400u);
  BOOST_TEST(names_field(no_visits, "visits"));
  BOOST_TEST(names_field(no_visits, "items"));
  BOOST_TEST(names_field(c->post("/attribution/resolve-batch?account_id=acme", R"({"visits":{}})"),
                         "visits"));
  auto empty = c->post("/attribution/resolve-batch?account_id=acme", R"({"visits":[]})");
  BOOST_TEST(empty.status == 200u);
  BOOST_TEST(empty.json()["data"]["results"].Size() == 0u);
  std::string many = R"({"visits":[)";
  for (int i = 0; i < 10001; ++i) {
    if (i > 0) many += ',';
    many += R"({"landing_url":"https://h.example/"})";
  }
  many += "]}";
  auto too_many = c->post("/attribution/resolve-batch?account_id=acme", many);
  BOOST_TEST(too_many.status == 400u);
  BOOST_TEST(names_field(too_many, "visits"));
  auto bad_json = c->post("/attribution/resolve-batch?account_id=acme", R"({"visits":[)");
  BOOST_TEST(bad_json.status == 400u);
  BOOST_TEST(error_code(bad_json) == "invalid_json");
}

// The answer's lines (without their "\n"); every line ends with one.
std::vector<std::string> ndjson_lines(const std::string& body) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < body.size()) {
    auto nl = body.find('\n', at);
    BOOST_REQUIRE_MESSAGE(nl != std::string::npos, "the last line has no newline");
    out.push_back(body.substr(at, nl - at));
    BOOST_TEST(rfc8259_problem(out.back()).empty(), out.back());
    at = nl + 1;
  }
  return out;
}

BOOST_AUTO_TEST_CASE(an_ndjson_batch_is_answered_line_by_line_with_bad_lines_in_place) {
  auto c = client();
  c->post("/referrer-mappings?account_id=acme",
          R"({"referrer_pattern":"partner.com","match_type":"ends_with","utm_source":"partner"})");
  const std::vector<std::string> visits = {
      R"({"referrer":"https://shop.partner.com/","landing_url":"https://h.example/"})",
      R"({"referrer":"https://www.google.de/","landing_url":"https://h.example/?gclid=x1"})",
      R"({"landing_url":"https://h.example/?utm_source=mail&utm_medium=email"})"};
  std::string json_form = R"({"visits":[)" + visits[0] + "," + visits[1] + "," + visits[2] + "]}";
  auto whole = c->post("/attribution/resolve-batch?account_id=acme", json_form);
  BOOST_REQUIRE(whole.status == 200u);
  auto d = whole.json();
  const auto& results = d["data"]["results"];

  // A blank line is skipped, CRLF is taken, a line that is not JSON and one that is not a
  // visit are error lines naming their line; the batch goes on.
  std::string body = visits[0] + "\n\n" + visits[1] + "\r\n" + R"({"referrer":)" + "\n" +
                     R"({"referrer":7,"landing_url":"https://h.example/"})" + "\n" + visits[2];
  auto r = c->request("POST", "/attribution/resolve-batch?account_id=acme", body,
                      {{"Content-Type", "application/x-ndjson"}});
  BOOST_REQUIRE(r.status == 200u);
  BOOST_TEST(r.header("content-type") == "application/x-ndjson");
  BOOST_TEST(r.header("transfer-encoding") == "chunked");
  BOOST_TEST(!r.header("x-request-id").empty());
  auto lines = ndjson_lines(r.body);
  BOOST_REQUIRE(lines.size() == 5u);
  // Each visit's line is byte for byte its result in the JSON form.
  BOOST_TEST(lines[0] == to_text(results[0]));
  BOOST_TEST(lines[1] == to_text(results[1]));
  BOOST_TEST(lines[4] == to_text(results[2]));
  rapidjson::Document bad;
  bad.Parse(lines[2].c_str());
  BOOST_TEST(bad["line"].GetUint() == 4u);
  BOOST_TEST(bad["error"]["code"].GetString() == std::string("invalid_json"));
  bad.Parse(lines[3].c_str());
  BOOST_TEST(bad["line"].GetUint() == 5u);
  BOOST_TEST(bad["error"]["details"][0]["field"].GetString() == std::string("referrer"));

  // explain, and the other NDJSON media type name.
  auto explained = c->request("POST", "/attribution/resolve-batch?account_id=acme&explain=true",
                              visits[0], {{"Content-Type", "application/ndjson; charset=utf-8"}});
  BOOST_REQUIRE(explained.status == 200u);
  auto one = ndjson_lines(explained.body);
  BOOST_REQUIRE(one.size() == 1u);
  BOOST_TEST(one[0].find("\"explain\":[") != std::string::npos);

  // Only what the route takes: another media type is a 415 naming the three.
  auto csv = c->request("POST", "/attribution/resolve-batch?account_id=acme", "a,b\n",
                        {{"Content-Type", "text/csv"}});
  BOOST_TEST(csv.status == 415u);
  BOOST_TEST(csv.body.find("application/x-ndjson") != std::string::npos);
}

// A URL over 8 KiB was a 400 (the snippet sends location.href and document.referrer as
// they are): pages behind sign-in or ad redirects with large tokens lost their visit. It is
// read without what resolution never needs, with a warning, by every client.
BOOST_AUTO_TEST_CASE(a_url_over_8_kib_is_read_without_its_longest_parameters) {
  auto c = client();
  std::string token(20000, 'T');
  std::string landing = "https://shop.example/welcome?sso_token=" + token +
                        "&utm_source=news&utm_medium=email&gclid=g1#" + std::string(3000, 'f');
  std::string referrer = "https://www.google.com/search?q=shoes&tok=" + token;
  auto r = c->post("/attribution/resolve?account_id=acme",
                   R"({"referrer":")" + referrer + R"(","landing_url":")" + landing + R"("})");
  BOOST_REQUIRE_MESSAGE(r.status == 200u, r.body.substr(0, 300));
  auto d = r.json();
  BOOST_TEST(d["data"]["reason"].GetString() == std::string("utm"));
  BOOST_TEST(d["data"]["utm_source"].GetString() == std::string("news"));
  BOOST_TEST(d["data"]["click_id"].GetString() == std::string("gclid"));
  BOOST_TEST(d["data"]["referrer_host"].GetString() == std::string("google.com"));
  const auto& warnings = d["data"]["warnings"];
  BOOST_REQUIRE(warnings.Size() == 2u);
  BOOST_TEST(std::string(warnings[0].GetString()) ==
             "the referrer is " + std::to_string(referrer.size()) +
                 " bytes long, more than 8192: it was read without 1 of its 2 query parameters "
                 "(the longest)");
  BOOST_TEST(std::string(warnings[1].GetString()) ==
             "the landing URL is " + std::to_string(landing.size()) +
                 " bytes long, more than 8192: it was read without its fragment and 1 of its 4 "
                 "query parameters (the longest)");
  // The referrer alone decides when the landing URL has no campaign: its search term is read.
  auto search =
      c->post("/attribution/resolve?account_id=acme",
              R"({"referrer":")" + referrer + R"(","landing_url":"https://shop.example/"})");
  auto s = search.json();
  BOOST_TEST(s["data"]["reason"].GetString() == std::string("known_referrer"));
  BOOST_TEST(s["data"]["utm_term"].GetString() == std::string("shoes"));
  // A path too long to keep: the host still decides; a host that cannot fit: no referrer.
  auto path = c->post("/attribution/resolve?account_id=acme",
                      R"({"referrer":"https://partner.example/)" + token +
                          R"(","landing_url":"https://shop.example/"})");
  auto p = path.json();
  BOOST_TEST(p["data"]["referrer_host"].GetString() == std::string("partner.example"));
  BOOST_TEST(std::string(p["data"]["warnings"][0].GetString()).find("its path and its query") !=
             std::string::npos);
  auto host =
      c->post("/attribution/resolve?account_id=acme",
              R"({"referrer":"https://)" + token + R"(.example/","landing_url":"x.example"})");
  BOOST_REQUIRE(host.status == 200u);
  BOOST_TEST(host.json()["data"]["reason"].GetString() == std::string("direct"));
  // The same in a batch, in both forms.
  auto batch = c->post("/attribution/resolve-batch?account_id=acme",
                       R"({"visits":[{"landing_url":")" + landing + R"("}]})");
  BOOST_REQUIRE(batch.status == 200u);
  BOOST_TEST(batch.json()["data"]["results"][0]["utm_source"].GetString() == std::string("news"));
}

// A duplicate key inside `session` was accepted (the last one won), though a duplicate
// top-level member is a 400; an NDJSON line that is not JSON was named `body`; NDJSON took a
// byte order mark at the start of any line.
BOOST_AUTO_TEST_CASE(a_visits_session_names_each_value_once_and_ndjson_lines_are_lines) {
  auto c = client();
  std::string twice =
      R"({"landing_url":"https://h.example/","session":{"utm_source":"a","utm_source":"b"}})";
  auto one = c->post("/attribution/resolve?account_id=acme", twice);
  BOOST_TEST(one.status == 400u);
  BOOST_TEST(names_field(one, "session.utm_source"), one.body);
  auto batch =
      c->post("/attribution/resolve-batch?account_id=acme", R"({"visits":[)" + twice + "]}");
  BOOST_TEST(batch.status == 200u);
  BOOST_TEST(batch.body.find("\"field\":\"visits[0].session.utm_source\"") != std::string::npos,
             batch.body);
  const std::string bom = "\xEF\xBB\xBF";
  std::string visit = R"({"landing_url":"https://h.example/?utm_source=x"})";
  auto r = c->request("POST", "/attribution/resolve-batch?account_id=acme",
                      bom + visit + "\n" + bom + visit + "\nnot json\n" + twice + "\n",
                      {{"Content-Type", "application/x-ndjson"}});
  BOOST_REQUIRE(r.status == 200u);
  auto lines = ndjson_lines(r.body);
  BOOST_REQUIRE(lines.size() == 4u);
  BOOST_TEST(lines[0].find("\"utm_source\":\"x\"") != std::string::npos,
             lines[0]);  // the body's start
  rapidjson::Document d;
  d.Parse(lines[1].c_str());
  BOOST_TEST(d["error"]["code"].GetString() == std::string("invalid_json"));
  BOOST_TEST(std::string(d["error"]["message"].GetString()).find("byte order mark") !=
             std::string::npos);
  d.Parse(lines[2].c_str());
  BOOST_TEST(std::string(d["error"]["message"].GetString()).starts_with("the line is not valid"));
  BOOST_TEST(d["error"]["details"][0]["field"].GetString() == std::string(""));
  d.Parse(lines[3].c_str());
  BOOST_TEST(d["error"]["details"][0]["field"].GetString() == std::string("session.utm_source"));
}

BOOST_AUTO_TEST_CASE(an_ndjson_batch_has_the_json_forms_limits_and_streams_in_slices) {
  auto c = client();
  std::string many;
  for (int i = 0; i < 10000; ++i)
    many += R"({"referrer":"https://www.bing.com/search?q=)" + std::to_string(i) +
            R"(","landing_url":"https://h.example/"})"
            "\n";
  auto r = c->request("POST", "/attribution/resolve-batch?account_id=acme", many,
                      {{"Content-Type", "application/x-ndjson"}});
  BOOST_REQUIRE(r.status == 200u);
  auto lines = ndjson_lines(r.body);
  BOOST_REQUIRE(lines.size() == 10000u);
  BOOST_TEST(lines[9999].find("\"utm_source\":\"bing\"") != std::string::npos);
  // The connection stays usable after a streamed answer.
  BOOST_TEST(c->get("/healthz").status == 200u);

  many += R"({"landing_url":"https://h.example/"})";
  auto too_many = c->request("POST", "/attribution/resolve-batch?account_id=acme", many,
                             {{"Content-Type", "application/x-ndjson"}});
  BOOST_TEST(too_many.status == 400u);
  BOOST_TEST(names_field(too_many, "body"));
  BOOST_TEST(too_many.header("content-type") == "application/json");

  // HTTP/1.0 cannot take chunks: the answer's end is the connection's.
  std::string line = R"({"landing_url":"https://h.example/?utm_source=a"})";
  std::string raw =
      "POST /attribution/resolve-batch?account_id=acme HTTP/1.0\r\nHost: x\r\n"
      "Authorization: Bearer " +
      std::string(admin_secret) +
      "\r\nContent-Type: application/x-ndjson\r\nContent-Length: " + std::to_string(line.size()) +
      "\r\n\r\n" + line;
  auto out = http_client::raw_exchange(server->port(), raw);
  BOOST_TEST(out.rfind("HTTP/1.0 200", 0) == 0u, out);
  BOOST_TEST(out.find("chunked") == std::string::npos);
  BOOST_TEST(out.find("\"utm_source\":\"a\"") != std::string::npos);
  BOOST_TEST(out.ends_with("}\n"));
}

BOOST_AUTO_TEST_CASE(an_ndjson_batch_out_of_time_is_never_a_whole_looking_answer) {
  server.reset();
  start({"--request-timeout", "60"});
  // Work that no machine does in 60 ms: each visit's explanation lists 500 mappings.
  std::string rules = R"({"mappings":[)";
  for (int i = 0; i < 500; ++i) {
    rules += (i > 0 ? "," : "") + std::string(R"({"referrer_pattern":"partner)") +
             std::to_string(i) + R"(.example","match_type":"exact","utm_source":"p"})";
  }
  rules += "]}";
  BOOST_REQUIRE_EQUAL(client()->post("/referrer-mappings/import?account_id=acme", rules).status,
                      200u);
  std::string body;
  for (int i = 0; i < 10000; ++i)
    body += R"({"referrer":"https://www.bing.com/search?q=)" + std::to_string(i) +
            R"(","landing_url":"https://h.example/?utm_source=x&gclid=)" + std::to_string(i) +
            "\"}\n";
  std::string raw =
      "POST /attribution/resolve-batch?account_id=acme&explain=true HTTP/1.1\r\n"
      "Host: x\r\nAuthorization: Bearer " +
      std::string(admin_secret) +
      "\r\nContent-Type: application/x-ndjson\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n" + body;
  auto out = http_client::raw_exchange(server->port(), raw, 10000);
  BOOST_TEST_MESSAGE("answered: " << out.substr(0, out.find("\r\n")) << ", " << out.size()
                                  << " bytes");
  // Either refused before its first line (503), or cut short: the connection closed without
  // the last chunk, which a client reads as a failed answer, never as a whole one.
  if (out.rfind("HTTP/1.1 503", 0) != 0) {
    BOOST_TEST(out.rfind("HTTP/1.1 200", 0) == 0u, out.substr(0, 200));
    BOOST_TEST(!out.ends_with("\r\n0\r\n\r\n"));
  }
}

BOOST_AUTO_TEST_CASE(clients_leaving_in_the_middle_of_an_ndjson_answer_do_not_harm_the_server) {
  std::string body;
  for (int i = 0; i < 10000; ++i)
    body += R"({"referrer":"https://www.bing.com/search?q=)" + std::to_string(i) +
            R"(","landing_url":"https://h.example/"})"
            "\n";
  std::string raw =
      "POST /attribution/resolve-batch?account_id=acme&explain=true HTTP/1.1\r\n"
      "Host: x\r\nAuthorization: Bearer " +
      std::string(admin_secret) +
      "\r\nContent-Type: application/x-ndjson\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n" + body;
  // Four clients at once read the first bytes of the answer and hang up.
  std::vector<std::thread> leavers;
  std::atomic<int> started{0};
  for (int i = 0; i < 4; ++i) {
    leavers.emplace_back([&] {
      auto got = http_client::raw_exchange(server->port(), raw, 200);
      if (got.rfind("HTTP/1.1 200", 0) == 0) ++started;
    });
  }
  for (auto& t : leavers)
    t.join();
  BOOST_TEST(started.load() >= 1);
  // The server goes on: a whole NDJSON answer on a new connection, and the next request.
  auto c = client();
  auto r = c->request("POST", "/attribution/resolve-batch?account_id=acme",
                      R"({"landing_url":"https://h.example/?utm_source=after"})",
                      {{"Content-Type", "application/x-ndjson"}});
  BOOST_REQUIRE(r.status == 200u);
  BOOST_TEST(ndjson_lines(r.body).size() == 1u);
  BOOST_TEST(c->get("/healthz").status == 200u);
}

// A single visit's body is read the simple way when it can be and by the parser otherwise:
// each body here is sent as written and with an escaped '/' (which only the parser reads),
// and both must get the same answer.
BOOST_AUTO_TEST_CASE(a_single_visit_answers_alike_however_its_body_is_written) {
  auto c = client();
  c->post("/passthrough-referrers?account_id=acme",
          R"({"domain":"pay.example","utm_source":"pay"})");
  struct sample {
    std::string body;
    unsigned status;
    std::string expect;  // the reason of a 200, the field an error names
  };
  const std::vector<sample> samples = {
      {R"({"referrer":"https://pay.example/x","landing_url":"https://h.example/",
           "session":{"utm_source":"news","utm_medium":null}})",
       200, "passthrough_session"},
      {R"( {"landing_url":"https://h.example/?gclid=1","referrer":null,"session":null} )", 200,
       "click_id"},
      {R"({"referrer":"https://www.google.de/","landing_url":"https://h.example/"})", 200,
       "known_referrer"},
      {R"({"referrer":"https://x.example/"})", 400, "landing_url"},
      {R"({"landing_url":"https://h.example/","unknown":1})", 400, "unknown"},
      {R"({"landing_url":"https://h.example/","session":{"utm_id":"1"}})", 400, "session.utm_id"},
      {R"({"referrer":7,"landing_url":"https://h.example/"})", 400, "referrer"},
  };
  for (const auto& s : samples) {
    std::string escaped = s.body;
    escaped.replace(escaped.find("://"), 3, R"(:\/\/)");
    auto simple = c->post(resolve_path("acme"), s.body);
    auto parsed = c->post(resolve_path("acme"), escaped);
    BOOST_TEST_CONTEXT(s.body) {
      BOOST_TEST(simple.status == s.status);
      BOOST_TEST(parsed.status == s.status);
      if (s.status == 200u) {
        BOOST_TEST(simple.body == parsed.body);
        auto d = simple.json();
        BOOST_TEST(d["data"]["reason"].GetString() == s.expect);
      } else {
        BOOST_TEST(names_field(simple, s.expect));
        BOOST_TEST(names_field(parsed, s.expect));
      }
    }
  }
  // Not one JSON object: refused by both readings.
  auto trailing = c->post(resolve_path("acme"), R"({"landing_url":"https://h.example/"} x)");
  BOOST_TEST(trailing.status == 400u);
}

BOOST_AUTO_TEST_CASE(a_single_visit_is_validated_and_bodies_over_one_mebibyte_are_413) {
  auto c = client();
  auto r = c->post(resolve_path("acme"), R"({"referrer":"https://x.example/"})");
  BOOST_TEST(r.status == 400u);
  BOOST_TEST(names_field(r, "landing_url"));
  std::string big =
      R"({"landing_url":"https://h.example/","referrer":")" + std::string(1u << 20, 'a') + R"("})";
  BOOST_TEST(c->post(resolve_path("acme"), big).status == 413u);
}

BOOST_AUTO_TEST_CASE(explain_shows_every_step_and_shadowed_rules) {
  auto c = client();
  c->post(
      "/referrer-mappings?account_id=acme",
      R"({"referrer_pattern":"partner","match_type":"contains","utm_source":"low","priority":1})");
  c->post(
      "/referrer-mappings?account_id=acme",
      R"({"referrer_pattern":"partner.com","match_type":"ends_with","utm_source":"high","priority":9})");
  auto r =
      c->post(resolve_path("acme", true),
              R"({"referrer":"https://shop.partner.com/","landing_url":"https://h.example/"})");
  BOOST_REQUIRE(r.status == 200u);
  auto d = r.json();
  BOOST_TEST(d["data"]["utm_source"].GetString() == std::string("high"));
  const auto& steps = d["data"]["explain"];
  BOOST_REQUIRE(steps.Size() == 10u);  // nine precedence steps, then the channel
  BOOST_TEST(steps[9]["step"].GetString() == std::string("channel"));
  const auto& mapping = steps[4];
  BOOST_TEST(mapping["step"].GetString() == std::string("mapping"));
  BOOST_TEST(mapping["rules"][1]["id"].GetInt() == 1);
  BOOST_TEST(std::string(mapping["rules"][1]["note"].GetString()).find("loses on priority") !=
             std::string::npos);
  auto plain =
      c->post(resolve_path("acme"),
              R"({"referrer":"https://shop.partner.com/","landing_url":"https://h.example/"})");
  BOOST_TEST(!plain.json()["data"].HasMember("explain"));
}

BOOST_AUTO_TEST_CASE(a_rule_change_is_seen_by_the_next_resolution) {
  auto writer = client();
  auto reader = client();  // another connection, possibly another I/O thread
  std::string visit =
      R"({"referrer":"https://shop.partner.com/","landing_url":"https://h.example/"})";
  for (int round = 0; round < 20; ++round) {
    std::string account = "ryw" + std::to_string(round);
    auto created = writer->post(
        "/referrer-mappings?account_id=" + account,
        R"({"referrer_pattern":"partner.com","match_type":"ends_with","utm_source":"v1"})");
    BOOST_REQUIRE(created.status == 201u);
    BOOST_TEST(
        reader->post(resolve_path(account), visit).json()["data"]["utm_source"].GetString() ==
        std::string("v1"));
    BOOST_REQUIRE(
        writer->patch("/referrer-mappings/1?account_id=" + account, R"({"utm_source":"v2"})")
            .status == 200u);
    BOOST_TEST(
        reader->post(resolve_path(account), visit).json()["data"]["utm_source"].GetString() ==
        std::string("v2"));
    BOOST_REQUIRE(writer
                      ->post("/passthrough-referrers?account_id=" + account,
                             R"({"domain":"partner.com","utm_source":"pt"})")
                      .status == 201u);
    BOOST_TEST(reader->post(resolve_path(account), visit).json()["data"]["reason"].GetString() ==
               std::string("passthrough_fallback"));
    BOOST_REQUIRE(writer->del("/passthrough-referrers/1?account_id=" + account).status == 204u);
    BOOST_REQUIRE(writer->del("/referrer-mappings/1?account_id=" + account).status == 204u);
    BOOST_TEST(reader->post(resolve_path(account), visit).json()["data"]["reason"].GetString() ==
               std::string("referral"));
  }
}

// Past a few dozen changes the account's mapping index is rebuilt in full on a loader
// while the changes since are layered over the previous build: every answer must be that
// of the newest rules, before, during and after the rebuild is adopted.
BOOST_AUTO_TEST_CASE(rule_changes_are_seen_at_once_across_full_index_rebuilds) {
  auto writer = client();
  auto reader = client();
  auto source_for = [&](int site) -> std::string {
    auto r =
        reader->post(resolve_path("many"), R"({"referrer":"https://site)" + std::to_string(site) +
                                               R"(.example/","landing_url":"https://h.example/"})");
    BOOST_REQUIRE_EQUAL(r.status, 200u);
    auto d = r.json();
    return std::string(d["data"]["reason"].GetString()) == "mapping"
               ? d["data"]["utm_source"].GetString()
               : "(none)";
  };
  auto builds = [&] {
    auto body = reader->get("/metrics").body;
    const std::string name = "\nreferrald_mapping_index_builds_total ";
    auto at = body.find(name);
    BOOST_REQUIRE(at != std::string::npos);
    return std::stoi(body.substr(at + name.size()));
  };
  int before = builds();
  std::map<int, std::string> want;
  for (int i = 1; i <= 300; ++i) {
    std::string body = R"({"referrer_pattern":"site)" + std::to_string(i) +
                       R"(.example","match_type":"exact","utm_source":"s)" + std::to_string(i) +
                       "\"}";
    BOOST_REQUIRE_EQUAL(writer->post("/referrer-mappings?account_id=many", body).status, 201u);
    want[i] = "s" + std::to_string(i);
    if (i % 7 == 0 && want[i - 5] != "(none)") {
      int old = i - 5;
      BOOST_REQUIRE_EQUAL(
          writer
              ->patch("/referrer-mappings/" + std::to_string(old) + "?account_id=many",
                      R"({"utm_source":"p)" + std::to_string(i) + "\"}")
              .status,
          200u);
      want[old] = "p" + std::to_string(i);
    }
    if (i % 11 == 0 && want[i - 3] != "(none)") {
      BOOST_REQUIRE_EQUAL(
          writer->del("/referrer-mappings/" + std::to_string(i - 3) + "?account_id=many").status,
          204u);
      want[i - 3] = "(none)";
    }
    BOOST_TEST(source_for(i) == want[i], "site" << i);
    int probe = 1 + (i * 37 + 11) % i;
    BOOST_TEST(source_for(probe) == want[probe], "site" << probe << " after " << i);
  }
  // Rebuilds happened (over 64 changes each), and every rule answers as it stands now.
  eventually([&] { return builds() >= before + 2; }, std::chrono::seconds(10));
  BOOST_TEST(builds() >= before + 2);
  for (auto& [site, source] : want)
    BOOST_TEST(source_for(site) == source, "site" << site);
}

BOOST_AUTO_TEST_CASE(resolution_needs_read_access_to_the_account) {
  std::string visit = R"({"landing_url":"https://h.example/"})";
  BOOST_TEST(http_client(server->port()).post(resolve_path("acme"), visit).status == 401u);
  auto viewer = client(make_key("viewer", R"(["acme"])", "[]"));
  BOOST_TEST(viewer->post(resolve_path("acme"), visit).status == 200u);
  BOOST_TEST(viewer->post(resolve_path("beta"), visit).status == 403u);
  BOOST_TEST(
      viewer->post("/attribution/resolve-batch?account_id=beta", R"({"visits":[]})").status ==
      403u);
  BOOST_TEST(viewer->post("/attribution/resolve", visit).status == 400u);  // account_id missing
  BOOST_TEST(viewer->post(resolve_path("acme") + "&explain=perhaps", visit).status == 400u);
}

BOOST_AUTO_TEST_CASE(an_account_that_is_not_loaded_is_loaded_first) {
  auto c = client();
  c->post("/referrer-mappings?account_id=cold",
          R"({"referrer_pattern":"partner.com","match_type":"ends_with","utm_source":"p"})");
  BOOST_REQUIRE(server->stop(SIGTERM) == 0);
  start();
  // The first request of this process for the account finds no actor running.
  auto r =
      client()->post(resolve_path("cold"),
                     R"({"referrer":"https://a.partner.com/","landing_url":"https://h.example/"})");
  BOOST_TEST(r.status == 200u);
  BOOST_TEST(r.json()["data"]["reason"].GetString() == std::string("mapping"));
  auto batch = client()->post("/attribution/resolve-batch?account_id=cold2",
                              R"({"visits":[{"landing_url":"https://h.example/"}]})");
  BOOST_TEST(batch.status == 200u);
}

BOOST_AUTO_TEST_SUITE_END()
