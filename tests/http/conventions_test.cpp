// The API's conventions over real HTTP (docs/api-guide.md, "Conventions"): strict query strings,
// request ids in answers, error bodies and the access log, ETags and If-None-Match, CORS,
// rate limits, and resolution against the past (as_of).

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "tests/http/fixture.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/strict_json.hpp"

using namespace referrald::testing;

namespace {

const std::string k_rule = R"({"domain":"a.example.com","utm_source":"s"})";

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(conventions, server_fixture)

BOOST_AUTO_TEST_CASE(an_unknown_or_repeated_query_parameter_is_a_400_naming_it) {
  auto c = client();
  auto r = c->get("/passthrough-referrers?account_id=acme&dry_run=true");
  BOOST_TEST(r.status == 400u);
  BOOST_TEST(error_code(r) == "validation_failed");
  BOOST_TEST(names_field(r, "dry_run"));
  auto create = c->post("/passthrough-referrers?account_id=acme&dry_run=true", k_rule);
  BOOST_TEST(create.status == 400u);
  // Nothing was created.
  auto list = c->get("/passthrough-referrers?account_id=acme");
  BOOST_TEST(list.json()["data"]["total"].GetInt() == 0);
  auto twice = c->get("/passthrough-referrers?account_id=acme&account_id=acme");
  BOOST_TEST(twice.status == 400u);
  BOOST_TEST(names_field(twice, "account_id"));
  auto none = c->get("/ai-platforms?x=1");
  BOOST_TEST(none.status == 400u);
  BOOST_TEST(names_field(none, "x"));
  BOOST_TEST(c->get("/healthz?probe=1").status == 400u);
}

BOOST_AUTO_TEST_CASE(every_answer_carries_a_request_id_and_errors_name_it) {
  auto c = client();
  auto mine = c->request("GET", "/passthrough-referrers?account_id=acme", {},
                         {{"X-Request-Id", "trace-42.a"}});
  BOOST_TEST(mine.header("x-request-id") == "trace-42.a");
  auto ours = c->get("/passthrough-referrers?account_id=acme");
  BOOST_TEST(ours.header("x-request-id").rfind("req_", 0) == 0u);
  BOOST_TEST(ours.header("x-request-id").size() == 20u);
  BOOST_TEST(c->get("/passthrough-referrers?account_id=acme").header("x-request-id") !=
             ours.header("x-request-id"));
  // An id that is not sane (too long, or with other characters) is replaced.
  auto odd = c->request("GET", "/passthrough-referrers?account_id=acme", {},
                        {{"X-Request-Id", "has space"}});
  BOOST_TEST(odd.header("x-request-id").rfind("req_", 0) == 0u);
  auto err = c->request("GET", "/passthrough-referrers/99?account_id=acme", {},
                        {{"X-Request-Id", "lost-rule"}});
  BOOST_TEST(err.status == 404u);
  BOOST_TEST(std::string(err.json()["error"]["request_id"].GetString()) == "lost-rule");
  http_client anon(server->port());
  auto refused = anon.get("/passthrough-referrers?account_id=acme");
  BOOST_TEST(refused.status == 401u);
  BOOST_TEST(std::string(refused.json()["error"]["request_id"].GetString()) ==
             refused.header("x-request-id"));
}

BOOST_AUTO_TEST_CASE(the_access_log_has_one_json_line_per_request_with_its_request_id) {
  std::string log = dir.sub("access.log");
  server.reset();
  start({"--access-log", log});
  auto c = client();
  auto before = std::chrono::steady_clock::now();
  BOOST_REQUIRE(c->request("POST", "/passthrough-referrers?account_id=acme", k_rule,
                           {{"X-Request-Id", "create-1"}})
                    .status == 201u);
  auto create_us = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::steady_clock::now() - before)
                       .count();
  BOOST_REQUIRE(
      c->request("GET", "/referrer-mappings/7?account_id=acme", {}, {{"X-Request-Id", "miss-2"}})
          .status == 404u);
  // A tenant id the client chose, with a control character, and long.
  BOOST_REQUIRE(c->request("GET", "/passthrough-referrers?account_id=a%1Fb" + std::string(300, 'c'),
                           {}, {{"X-Request-Id", "odd-3"}})
                    .status == 400u);
  std::string text;
  eventually(
      [&] {
        text = read_file(log);
        return text.find("odd-3") != std::string::npos;
      },
      std::chrono::seconds(2));
  std::istringstream lines(text);
  std::string line;
  int seen = 0;
  while (std::getline(lines, line)) {
    BOOST_REQUIRE_MESSAGE(rfc8259_problem(line).empty(), rfc8259_problem(line) << ": " << line);
    rapidjson::Document d;
    d.Parse(line.c_str());
    BOOST_REQUIRE_MESSAGE(d.IsObject(), line);
    std::string id = d["request_id"].GetString();
    if (id == "create-1") {
      ++seen;
      BOOST_TEST(std::string(d["method"].GetString()) == "POST");
      BOOST_TEST(std::string(d["route"].GetString()) == "/passthrough-referrers");
      BOOST_TEST(std::string(d["account_id"].GetString()) == "acme");
      BOOST_TEST(d["status"].GetInt() == 201);
      BOOST_TEST(d["key_id"].GetInt() == 1);
      BOOST_TEST(d["bytes"].GetInt() > 0);
      // The server's own time for the request: more than nothing (an fsync was in it), less
      // than the client saw from sending to reading the answer.
      BOOST_TEST(d["duration_us"].GetInt64() > 0);
      BOOST_TEST(d["duration_us"].GetInt64() <= create_us);
      BOOST_TEST(d.HasMember("time"));
    } else if (id == "miss-2") {
      ++seen;
      BOOST_TEST(std::string(d["route"].GetString()) == "/referrer-mappings/{id}");
      BOOST_TEST(d["status"].GetInt() == 404);
    } else if (id == "odd-3") {
      ++seen;
      std::string account = d["account_id"].GetString();
      BOOST_TEST(account.starts_with("a\x1f"
                                     "bccc"),
                 account);
      BOOST_TEST(account.size() == 103u, account);  // 100 code points and "..."
      BOOST_TEST(d["status"].GetInt() == 400);
    }
  }
  BOOST_TEST(seen == 3);
}

// The session kept the previous request's key when a request never reached authentication
// (an unknown route, a wrong method, a malformed request on a kept-alive connection).
BOOST_AUTO_TEST_CASE(a_request_that_is_not_authenticated_is_not_logged_with_the_previous_key) {
  std::string log = dir.sub("access.log");
  server.reset();
  start({"--access-log", log});
  std::string bytes =
      "GET /passthrough-referrers?account_id=acme HTTP/1.1\r\nHost: t\r\n"
      "Authorization: Bearer " +
      std::string(admin_secret) +
      "\r\nX-Request-Id: first\r\n\r\n"
      "GET /no-such-route HTTP/1.1\r\nHost: t\r\nX-Request-Id: second\r\n\r\n"
      "DELETE /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: third\r\n\r\n"
      "GET /healthz HTTP/1.1\r\nX-Request-Id: fourth\r\n\r\n";  // no Host: malformed
  std::string answers = http_client::raw_exchange(server->port(), bytes);
  BOOST_TEST(answers.find("HTTP/1.1 200") != std::string::npos, answers);
  BOOST_TEST(answers.find("HTTP/1.1 404") != std::string::npos, answers);
  BOOST_TEST(answers.find("HTTP/1.1 405") != std::string::npos, answers);
  BOOST_TEST(answers.find("HTTP/1.1 400") != std::string::npos, answers);
  std::string text;
  eventually(
      [&] {
        text = read_file(log);
        return text.find("fourth") != std::string::npos;
      },
      std::chrono::seconds(2));
  std::map<std::string, bool> keyed;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    rapidjson::Document d;
    d.Parse(line.c_str());
    BOOST_REQUIRE_MESSAGE(d.IsObject(), line);
    keyed[d["request_id"].GetString()] = d.HasMember("key_id");
  }
  BOOST_TEST(keyed.size() == 4u, text);
  BOOST_TEST(keyed["first"]);
  BOOST_TEST(!keyed["second"], text);
  BOOST_TEST(!keyed["third"], text);
  BOOST_TEST(!keyed["fourth"], text);
}

BOOST_AUTO_TEST_CASE(pages_walk_2500_rules_seeing_every_id_once_with_filters) {
  auto c = client();
  // 2,500 mappings in one import: every 5th inactive, types cycling, labels "team-<n % 4>".
  const char* types[] = {"exact", "contains", "starts_with", "ends_with"};
  std::string body = R"({"mappings":[)";
  for (int i = 1; i <= 2500; ++i) {
    body += std::string(i > 1 ? "," : "") + R"({"referrer_pattern":"m)" + std::to_string(i) +
            R"(.partner.example","match_type":")" + types[i % 4] + R"(","utm_source":"s",)" +
            R"("label":"Team-)" + std::to_string(i % 4) + R"(","is_active":)" +
            (i % 5 == 0 ? "false" : "true") + "}";
  }
  body += "]}";
  auto imported = c->post("/referrer-mappings/import?account_id=acme", body);
  BOOST_REQUIRE_MESSAGE(imported.status == 200u, imported.body);

  // Walks every page of `query`; the ids seen, each once, in increasing order.
  auto walk = [&](const std::string& query, std::size_t page_size) {
    std::vector<std::int64_t> ids;
    std::string after;
    for (int pages = 0; pages < 100; ++pages) {
      auto r = c->get("/referrer-mappings?account_id=acme" + query +
                      (after.empty() ? "" : "&starting_after=" + after));
      BOOST_REQUIRE_MESSAGE(r.status == 200u, r.body);
      auto d = r.json();
      const auto& data = d["data"];
      BOOST_TEST(data["total"].GetInt() == 2500);
      BOOST_TEST(data["active_count"].GetInt() == 2000);
      BOOST_TEST(data["mappings"].Size() <= page_size);
      for (const auto& m : data["mappings"].GetArray()) {
        BOOST_TEST((ids.empty() || m["id"].GetInt64() > ids.back()));
        ids.push_back(m["id"].GetInt64());
      }
      if (!data["has_more"].GetBool()) {
        BOOST_TEST(data["next_starting_after"].IsNull());
        return ids;
      }
      BOOST_TEST(data["mappings"].Size() == page_size);
      BOOST_TEST(data["next_starting_after"].GetInt64() == ids.back());
      after = std::to_string(ids.back());
    }
    BOOST_FAIL("more than 100 pages");
    return ids;
  };
  // Default: active only, 100 a page.
  auto active = walk("", 100);
  BOOST_TEST(active.size() == 2000u);
  auto all = walk("&include_inactive=true&limit=1000", 1000);
  BOOST_REQUIRE(all.size() == 2500u);
  for (std::size_t i = 0; i < all.size(); ++i)
    BOOST_TEST(all[i] == static_cast<std::int64_t>(i + 1));
  auto inactive = walk("&is_active=false&limit=333", 333);
  BOOST_TEST(inactive.size() == 500u);
  for (auto id : inactive)
    BOOST_TEST(id % 5 == 0);
  // q: case-insensitive, on pattern and label; match_type.
  auto team = walk("&q=TEAM-3&include_inactive=true&limit=250", 250);
  BOOST_TEST(team.size() == 625u);
  auto ends = walk("&match_type=ends_with&is_active=true", 100);
  BOOST_TEST(ends.size() == 500u);  // i % 4 == 3, minus every 5th: 625 - 125
  for (auto id : ends)
    BOOST_TEST((id % 4 == 3 && id % 5 != 0));
  auto one = walk("&q=m1234.partner", 100);
  BOOST_TEST((one == std::vector<std::int64_t>{1234}));
  // as_of pages the past the same way.
  auto past = walk("&as_of=2100-01-01T00:00:00Z&limit=1000&include_inactive=true", 1000);
  BOOST_TEST(past.size() == 2500u);

  for (const char* bad : {"&limit=0", "&limit=1001", "&limit=x", "&starting_after=-1",
                          "&is_active=maybe", "&match_type=fuzzy", "&q="}) {
    auto r = c->get(std::string("/referrer-mappings?account_id=acme") + bad);
    BOOST_TEST(r.status == 400u, bad);
  }
  // match_type belongs to mappings only.
  BOOST_TEST(c->get("/passthrough-referrers?account_id=acme&match_type=exact").status == 400u);
}

BOOST_FIXTURE_TEST_CASE(keys_connections_and_backups_are_paged_the_same_way, in_process_fixture) {
  auto c = client();
  for (int i = 0; i < 5; ++i)
    make_key("viewer");
  auto keys = c->get("/api-keys?limit=2").json();
  BOOST_TEST(keys["data"]["keys"].Size() == 2u);
  BOOST_TEST(keys["data"]["total"].GetInt() == 6);
  BOOST_TEST(keys["data"]["has_more"].GetBool());
  auto rest = c->get("/api-keys?limit=10&starting_after=" +
                     std::to_string(keys["data"]["next_starting_after"].GetInt64()))
                  .json();
  BOOST_TEST(rest["data"]["keys"].Size() == 4u);
  BOOST_TEST(!rest["data"]["has_more"].GetBool());
  BOOST_TEST(c->get("/api-keys?q=TEST%20viewer").json()["data"]["keys"].Size() == 5u);
  BOOST_REQUIRE(c->del("/api-keys/2").status == 204u);
  auto revoked = c->get("/api-keys?is_active=false").json();
  BOOST_TEST(revoked["data"]["keys"].Size() == 1u);
  BOOST_TEST(revoked["data"]["active_count"].GetInt() == 5);

  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto r = c->post("/9/ai-referrals/connections",
                     R"({"name":"Conn )" + std::to_string(i) + R"(","source_tool":"ga4"})");
    BOOST_REQUIRE(r.status == 201u);
    ids.push_back(r.json()["data"]["id"].GetString());
  }
  auto first = c->get("/9/ai-referrals/connections?limit=2").json();
  BOOST_TEST(first["data"]["connections"].Size() == 2u);
  BOOST_TEST(first["data"]["next_starting_after"].GetString() == ids[1]);
  auto second = c->get("/9/ai-referrals/connections?starting_after=" + ids[1]).json();
  BOOST_TEST(second["data"]["connections"].Size() == 1u);
  BOOST_TEST(second["data"]["connections"][0]["id"].GetString() == ids[2]);
  BOOST_REQUIRE(c->del("/9/ai-referrals/connections/" + ids[0]).status == 204u);
  auto deleted = c->get("/9/ai-referrals/connections?is_active=false").json();
  BOOST_TEST(deleted["data"]["connections"].Size() == 1u);
  BOOST_TEST(deleted["data"]["total"].GetInt() == 3);

  for (int i = 0; i < 3; ++i) {
    BOOST_REQUIRE(c->post("/admin/snapshots", "").status == 201u);
    clock.advance(std::chrono::milliseconds(5));  // each its own instant
  }
  auto snaps = c->get("/admin/snapshots?limit=2").json();
  BOOST_TEST(snaps["data"]["snapshots"].Size() == 2u);
  BOOST_TEST(snaps["data"]["total"].GetInt() == 3);
  auto last = c->get("/admin/snapshots?starting_after=" +
                     std::string(snaps["data"]["next_starting_after"].GetString()))
                  .json();
  BOOST_TEST(last["data"]["snapshots"].Size() == 1u);
}

BOOST_AUTO_TEST_CASE(debug_logs_every_request_and_json_logs_are_json) {
  server.reset();
  start({"--log-level", "debug", "--log-format", "json"});
  auto c = client();
  BOOST_REQUIRE(c->request("GET", "/passthrough-referrers?account_id=acme", {},
                           {{"X-Request-Id", "debug-me-1"}})
                    .status == 200u);
  std::string text;
  eventually(
      [&] {
        text = server->stderr_text();
        return text.find("debug-me-1") != std::string::npos;
      },
      std::chrono::seconds(2));
  bool request_line = false, load_line = false;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] != '{') continue;  // the bootstrap notice is not a log line
    rapidjson::Document d;
    d.Parse(line.c_str());
    BOOST_REQUIRE_MESSAGE(
        d.IsObject() && d.HasMember("time") && d.HasMember("level") && d.HasMember("msg"), line);
    std::string msg = d["msg"].GetString();
    if (msg.find("debug-me-1") != std::string::npos) {
      request_line = std::string(d["level"].GetString()) == "debug" &&
                     msg.find("/passthrough-referrers") != std::string::npos &&
                     msg.find("200") != std::string::npos;
    }
    if (msg.find("account acme loaded") != std::string::npos) {
      load_line = std::string(d["level"].GetString()) == "info";
    }
  }
  BOOST_TEST(request_line, text);
  BOOST_TEST(load_line, text);
}

BOOST_AUTO_TEST_CASE(single_objects_carry_an_etag_and_if_none_match_answers_304) {
  auto c = client();
  auto created = c->post("/passthrough-referrers?account_id=acme", k_rule);
  BOOST_REQUIRE(created.status == 201u);
  std::string tag = created.header("etag");
  BOOST_TEST(tag.size() == 22u);
  auto got = c->get("/passthrough-referrers/1?account_id=acme");
  BOOST_TEST(got.header("etag") == tag);
  auto same =
      c->request("GET", "/passthrough-referrers/1?account_id=acme", {}, {{"If-None-Match", tag}});
  BOOST_TEST(same.status == 304u);
  BOOST_TEST(same.body.empty());
  BOOST_TEST(same.header("etag") == tag);
  auto patched = c->patch("/passthrough-referrers/1?account_id=acme", R"({"utm_term":"t"})");
  BOOST_REQUIRE(patched.status == 200u);
  BOOST_TEST(patched.header("etag") != tag);
  auto changed =
      c->request("GET", "/passthrough-referrers/1?account_id=acme", {}, {{"If-None-Match", tag}});
  BOOST_TEST(changed.status == 200u);
  BOOST_TEST(changed.header("etag") == patched.header("etag"));
}

BOOST_AUTO_TEST_CASE(a_stale_if_match_gets_412_and_changes_nothing) {
  auto c = client();
  auto created = c->post("/passthrough-referrers?account_id=acme", k_rule);
  BOOST_REQUIRE(created.status == 201u);
  const std::string v1 = created.header("etag");
  const std::string item = "/passthrough-referrers/1?account_id=acme";
  auto first = c->request("PATCH", item, R"({"utm_term":"first"})", {{"If-Match", v1}});
  BOOST_REQUIRE(first.status == 200u);
  const std::string v2 = first.header("etag");
  // A second editor still holding v1.
  auto stale = c->request("PATCH", item, R"({"utm_term":"second"})", {{"If-Match", v1}});
  BOOST_TEST(stale.status == 412u);
  BOOST_TEST(error_code(stale) == "precondition_failed");
  BOOST_TEST(names_field(stale, "If-Match"));
  BOOST_TEST(stale.body.find(v2.substr(1, v2.size() - 2)) != std::string::npos);
  auto now = c->get(item);
  BOOST_TEST(now.json()["data"]["utm_term"].GetString() == std::string("first"));
  BOOST_TEST(now.header("etag") == v2);
  auto stale_delete = c->request("DELETE", item, {}, {{"If-Match", v1}});
  BOOST_TEST(stale_delete.status == 412u);
  BOOST_TEST(c->get(item).status == 200u);
  // A list of tags and "*" name the current version too; a weak tag never does (If-Match
  // compares strongly).
  BOOST_TEST(
      c->request("PATCH", item, R"({"utm_term":"weak"})", {{"If-Match", "W/" + v2}}).status ==
      412u);
  BOOST_TEST(
      c->request("PATCH", item, R"({"utm_term":"third"})", {{"If-Match", v1 + ", " + v2}}).status ==
      200u);
  BOOST_TEST(c->request("PATCH", item, R"({"utm_term":"fourth"})", {{"If-Match", "*"}}).status ==
             200u);
  auto current = c->get(item).header("etag");
  BOOST_TEST(c->request("DELETE", item, {}, {{"If-Match", current}}).status == 204u);
  BOOST_TEST(c->get(item).status == 404u);
  // Mappings take it the same way.
  BOOST_REQUIRE(c->post("/referrer-mappings?account_id=acme",
                        R"({"referrer_pattern":"p.example","match_type":"exact","utm_source":"p"})")
                    .status == 201u);
  BOOST_TEST(c->request("PATCH", "/referrer-mappings/1?account_id=acme", R"({"priority":3})",
                        {{"If-Match", "\"0000\""}})
                 .status == 412u);
}

BOOST_AUTO_TEST_CASE(a_create_answers_201_with_the_location_of_the_new_object) {
  auto c = client();
  auto created = c->post("/v1/passthrough-referrers?account_id=acme", k_rule);
  BOOST_REQUIRE(created.status == 201u);
  BOOST_TEST(created.header("location") == "/v1/passthrough-referrers/1?account_id=acme");
  auto there = c->get(created.header("location"));
  BOOST_TEST(there.status == 200u);
  BOOST_TEST(there.header("etag") == created.header("etag"));
  auto key =
      c->post("/api-keys", R"({"name":"k","role":"viewer","accounts":["acme"],"brands":[]})");
  BOOST_REQUIRE(key.status == 201u);
  BOOST_TEST(key.header("location") ==
             "/api-keys/" + std::to_string(key.json()["data"]["id"].GetInt64()));
  BOOST_TEST(c->get(key.header("location")).status == 200u);
  auto conn = c->post("/7/ai-referrals/connections", R"({"name":"GA4","source_tool":"ga4"})");
  BOOST_REQUIRE_MESSAGE(conn.status == 201u, conn.body);
  BOOST_TEST(conn.header("location") ==
             "/7/ai-referrals/connections/" + std::string(conn.json()["data"]["id"].GetString()));
  BOOST_TEST(c->get(conn.header("location")).status == 200u);
  // A connection's DELETE takes If-Match too.
  BOOST_TEST(c->request("DELETE", conn.header("location"), {}, {{"If-Match", "\"0\""}}).status ==
             412u);
  BOOST_TEST(c->request("DELETE", conn.header("location"), {}, {{"If-Match", conn.header("etag")}})
                 .status == 204u);
}

BOOST_AUTO_TEST_CASE(an_idempotency_key_retry_replays_even_after_sigkill) {
  auto c = client();
  const std::string path = "/passthrough-referrers?account_id=acme";
  header_list retry = {{"Idempotency-Key", "7f0c1c9e-create-a"}};
  auto first = c->request("POST", path, k_rule, retry);
  BOOST_REQUIRE(first.status == 201u);
  BOOST_TEST(first.header("idempotent-replayed").empty());
  auto again = c->request("POST", path, k_rule, retry);
  BOOST_TEST(again.status == 201u);
  BOOST_TEST(again.body == first.body);
  BOOST_TEST(again.header("idempotent-replayed") == "true");
  BOOST_TEST(again.header("location") == first.header("location"));
  BOOST_TEST(c->get(path).json()["data"]["total"].GetInt() == 1);
  // The same key with another request: 409, nothing done.
  auto other = c->request("POST", path, R"({"domain":"b.example.com","utm_source":"s"})", retry);
  BOOST_TEST(other.status == 409u);
  BOOST_TEST(names_field(other, "Idempotency-Key"));
  BOOST_TEST(c->get(path).json()["data"]["total"].GetInt() == 1);
  // Keys are per API key: another key's request with the same Idempotency-Key is its own.
  auto editor = client(make_key("editor"));
  auto theirs =
      editor->request("POST", path, R"({"domain":"c.example.com","utm_source":"s"})", retry);
  BOOST_TEST(theirs.status == 201u);
  BOOST_TEST(theirs.header("idempotent-replayed").empty());
  // A key creation keeps its secret for retries while the server runs...
  header_list key_retry = {{"Idempotency-Key", "new-key-1"}};
  const std::string key_body = R"({"name":"k","role":"viewer","accounts":["acme"],"brands":[]})";
  auto made = c->request("POST", "/api-keys", key_body, key_retry);
  BOOST_REQUIRE(made.status == 201u);
  auto made_again = c->request("POST", "/api-keys", key_body, key_retry);
  BOOST_TEST(made_again.body == made.body);
  BOOST_TEST(made_again.header("cache-control") == "no-store");
  BOOST_TEST(c->get("/api-keys").json()["data"]["total"].GetInt() == 3);
  // A validation error is an answer too (the same request fails the same way).
  header_list bad_retry = {{"Idempotency-Key", "bad-1"}};
  auto bad = c->request("POST", path, R"({"domain":""})", bad_retry);
  BOOST_TEST(bad.status == 400u);
  auto bad_replayed = c->request("POST", path, R"({"domain":""})", bad_retry);
  BOOST_TEST(bad_replayed.header("idempotent-replayed") == "true");
  // The replayed error is the same error, naming the replay's own request.
  auto request_id_of = [](const auto& answer) {
    return std::string(answer.json()["error"]["request_id"].GetString());
  };
  BOOST_TEST(request_id_of(bad_replayed) == bad_replayed.header("x-request-id"));
  BOOST_TEST(request_id_of(bad) != request_id_of(bad_replayed));
  BOOST_TEST((bad_replayed.json()["error"]["message"] == bad.json()["error"]["message"]));

  // kill -9, start again: the retry still replays, nothing is created twice.
  server->stop(SIGKILL);
  start();
  c = client();
  auto after = c->request("POST", path, k_rule, retry);
  BOOST_TEST(after.status == 201u);
  BOOST_TEST(after.body == first.body);
  BOOST_TEST(after.header("idempotent-replayed") == "true");
  BOOST_TEST(after.header("etag") == first.header("etag"));  // read back as an envelope
  BOOST_TEST(!first.header("etag").empty());
  BOOST_TEST(c->get(path).json()["data"]["total"].GetInt() == 2);  // a. and c.example.com
  // An error stored before the restart reads back as the same error, with the new request id.
  auto bad_after = c->request("POST", path, R"({"domain":""})", bad_retry);
  BOOST_TEST(bad_after.status == 400u);
  BOOST_TEST(bad_after.header("idempotent-replayed") == "true");
  BOOST_TEST(request_id_of(bad_after) == bad_after.header("x-request-id"));
  BOOST_TEST((bad_after.json()["error"]["details"] == bad.json()["error"]["details"]));
  // ...but a new key's secret is never stored: after a restart its replay holds null.
  auto key_after = c->request("POST", "/api-keys", key_body, key_retry);
  BOOST_TEST(key_after.status == 201u);
  BOOST_TEST(key_after.json()["data"]["secret"].IsNull());
  BOOST_TEST(key_after.json()["data"]["id"].GetInt64() == made.json()["data"]["id"].GetInt64());
  BOOST_TEST(c->get("/api-keys").json()["data"]["total"].GetInt() == 3);

  // An import refused for its body is answered once, 400, and replayed as such.
  header_list import_retry = {{"Idempotency-Key", "import-1"}};
  auto bad_import = c->request("POST", "/passthrough-referrers/import?account_id=acme", "{not json",
                               import_retry);
  BOOST_TEST(bad_import.status == 400u);
  auto bad_again = c->request("POST", "/passthrough-referrers/import?account_id=acme", "{not json",
                              import_retry);
  BOOST_TEST(bad_again.status == 400u);
  BOOST_TEST(bad_again.header("idempotent-replayed") == "true");

  auto odd = c->request("POST", path, k_rule, {{"Idempotency-Key", "has space"}});
  BOOST_TEST(odd.status == 400u);
  BOOST_TEST(names_field(odd, "Idempotency-Key"));
}

BOOST_AUTO_TEST_CASE(cors_preflight_is_answered_for_allowed_origins_only) {
  server.reset();
  start({"--cors-origins", "https://console.example.com,http://localhost:3000"});
  http_client anon(server->port());
  auto ok = anon.request("OPTIONS", "/passthrough-referrers/1?account_id=acme", {},
                         {{"Origin", "https://console.example.com"},
                          {"Access-Control-Request-Method", "PATCH"},
                          {"Access-Control-Request-Headers", "authorization, if-match"}});
  BOOST_TEST(ok.status == 204u);
  BOOST_TEST(ok.header("access-control-allow-origin") == "https://console.example.com");
  BOOST_TEST(ok.header("access-control-allow-methods").find("PATCH") != std::string::npos);
  BOOST_TEST(ok.header("access-control-allow-headers").find("If-Match") != std::string::npos);
  BOOST_TEST(ok.header("vary") == "Origin");
  auto refused = anon.request(
      "OPTIONS", "/passthrough-referrers/1", {},
      {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "DELETE"}});
  BOOST_TEST(refused.status == 403u);
  BOOST_TEST(refused.header("access-control-allow-origin").empty());
  BOOST_TEST(names_field(refused, "Origin"));
  // The real request from an allowed page carries the CORS answer headers.
  auto c = client();
  auto get = c->request("GET", "/passthrough-referrers?account_id=acme", {},
                        {{"Origin", "http://localhost:3000"}});
  BOOST_TEST(get.header("access-control-allow-origin") == "http://localhost:3000");
  BOOST_TEST(get.header("access-control-expose-headers").find("ETag") != std::string::npos);
  auto other = c->request("GET", "/passthrough-referrers?account_id=acme", {},
                          {{"Origin", "https://evil.example"}});
  BOOST_TEST(other.status == 200u);
  BOOST_TEST(other.header("access-control-allow-origin").empty());
  // A plain OPTIONS lists the methods; an unknown path is still a 404.
  auto plain = anon.request("OPTIONS", "/passthrough-referrers");
  BOOST_TEST(plain.status == 204u);
  BOOST_TEST(plain.header("allow") == "GET, HEAD, POST, OPTIONS");
  BOOST_TEST(anon.request("OPTIONS", "/nowhere").status == 404u);
}

// Rate limits run on the server's clock: a bucket refills when the test moves it.
void limit_rate(in_process_fixture& f, double rps, double burst) {
  f.start([=](referrald::http::server_options& s, referrald::actors::runtime_options&) {
    s.rate_limit_rps = rps;
    s.rate_limit_burst = burst;
  });
}

BOOST_FIXTURE_TEST_CASE(the_rate_limit_answers_429_at_the_configured_rate_and_not_before,
                        in_process_fixture) {
  limit_rate(*this, 1, 10);
  auto other = client(make_key("viewer"));         // before the admin key's bucket is spent
  clock.advance(std::chrono::milliseconds(1100));  // refilled to 10
  auto c = client();
  int allowed = 0;
  http_reply last;
  for (int i = 0; i < 30; ++i) {
    last = c->get("/passthrough-referrers?account_id=acme");
    if (last.status != 200u) break;
    ++allowed;
    BOOST_TEST(last.header("ratelimit-limit") == "10");
  }
  // The burst of 10, and no token refilled while the clock stands still.
  BOOST_TEST(allowed == 10);
  BOOST_TEST(last.status == 429u);
  BOOST_TEST(error_code(last) == "rate_limited");
  BOOST_TEST(last.header("retry-after") == "1");
  BOOST_TEST(last.header("ratelimit-remaining") == "0");
  // Another key has its own bucket.
  BOOST_TEST(other->get("/passthrough-referrers?account_id=acme").status == 200u);
  // One token a second: not yet after 999 ms, then served again.
  clock.advance(std::chrono::milliseconds(999));
  BOOST_TEST(c->get("/passthrough-referrers?account_id=acme").status == 429u);
  clock.advance(std::chrono::milliseconds(1));
  BOOST_TEST(c->get("/passthrough-referrers?account_id=acme").status == 200u);
  BOOST_TEST(c->get("/passthrough-referrers?account_id=acme").status == 429u);
}

BOOST_FIXTURE_TEST_CASE(basic_and_bearer_requests_of_one_key_share_its_rate_limit,
                        in_process_fixture) {
  limit_rate(*this, 1, 6);
  std::string secret = make_key("viewer");
  http_client anon(server->port());
  auto by_basic = [&] {
    return anon.request("GET", "/passthrough-referrers?account_id=acme", {},
                        {{"Authorization", basic_authorization(":" + secret)}});
  };
  auto bearer = client(secret);
  int allowed = 0;
  http_reply last;
  for (int i = 0; i < 20; ++i) {
    last = i % 2 == 0 ? by_basic() : bearer->get("/passthrough-referrers?account_id=acme");
    if (last.status != 200u) break;
    ++allowed;
  }
  // One bucket of 6 for the key, not 6 per scheme.
  BOOST_TEST(allowed == 6);
  BOOST_TEST(last.status == 429u);
  BOOST_TEST(by_basic().status == 429u);
  BOOST_TEST(bearer->get("/passthrough-referrers?account_id=acme").status == 429u);
}

BOOST_AUTO_TEST_CASE(a_batch_resolution_counts_its_visits_and_failed_logins_their_address) {
  server.reset();
  start({"--rate-limit-rps", "1", "--rate-limit-burst", "20"});
  auto c = client();
  std::string visits = R"({"visits":[)";
  for (int i = 0; i < 15; ++i)
    visits += std::string(i ? "," : "") +
              R"({"referrer":"https://www.google.com/","landing_url":"https://a.example/"})";
  visits += "]}";
  BOOST_REQUIRE(c->post("/attribution/resolve-batch?account_id=acme", visits).status == 200u);
  auto next = c->get("/passthrough-referrers?account_id=acme");
  // 20 - 15 (the batch) - 1 (this request), give or take a refilled token.
  int remaining = std::stoi(next.header("ratelimit-remaining"));
  BOOST_TEST(remaining >= 3);
  BOOST_TEST(remaining <= 6);
  http_client wrong(server->port(), "rk_not_a_real_key_at_all");
  int refused = 0;
  for (int i = 0; i < 40 && refused == 0; ++i) {
    auto r = wrong.get("/passthrough-referrers?account_id=acme");
    if (r.status == 429u)
      ++refused;
    else
      BOOST_TEST(r.status == 401u);
  }
  BOOST_TEST(refused == 1);
}

BOOST_FIXTURE_TEST_CASE(resolve_as_of_equals_the_resolve_done_at_that_moment, in_process_fixture) {
  auto c = client();
  const std::string visit =
      R"({"referrer":"https://shop.partner.example/x","landing_url":"https://hotel.example/"})";
  const std::string path = "/attribution/resolve?account_id=acme";
  auto before = c->post(path, visit);
  BOOST_REQUIRE(before.status == 200u);
  BOOST_REQUIRE(c->post("/referrer-mappings?account_id=acme",
                        R"({"referrer_pattern":"partner.example","match_type":"ends_with",)"
                        R"("utm_source":"partner","utm_medium":"affiliate"})")
                    .status == 201u);
  auto mid = c->post(path, visit);
  BOOST_REQUIRE(mid.status == 200u);
  std::string at =
      c->get("/referrer-mappings/1?account_id=acme").json()["data"]["created_at"].GetString();
  clock.advance(std::chrono::milliseconds(20));
  BOOST_REQUIRE(
      c->patch("/referrer-mappings/1?account_id=acme", R"({"utm_source":"later"})").status == 200u);
  auto now = c->post(path, visit);
  BOOST_TEST(now.json()["data"]["utm_source"].GetString() == std::string("later"));
  // At the mapping's creation: what the resolve right after it answered.
  auto then = c->post(path + "&as_of=" + at, visit);
  BOOST_REQUIRE(then.status == 200u);
  BOOST_TEST(then.body == mid.body);
  // Before any rule: what the first resolve answered.
  auto early = c->post(path + "&as_of=2020-01-01T00:00:00Z", visit);
  BOOST_TEST(early.body == before.body);
  auto batch = c->post("/attribution/resolve-batch?account_id=acme&as_of=" + at,
                       R"({"visits":[)" + visit + "]}");
  BOOST_REQUIRE(batch.status == 200u);
  BOOST_TEST(batch.json()["data"]["results"][0]["utm_source"].GetString() ==
             std::string("partner"));
  auto bad = c->post(path + "&as_of=yesterday", visit);
  BOOST_TEST(bad.status == 400u);
  BOOST_TEST(names_field(bad, "as_of"));
}

BOOST_AUTO_TEST_CASE(options_come_from_flags_then_environment_then_the_config_file) {
  server.reset();
  const std::string conf = dir.sub("referrald.conf");
  {
    std::ofstream out(conf);
    out << "# referrald options\n\nrate-limit-burst = 7\nrate-limit-rps = \"5\"\n";
  }
  auto limit_with = [&](std::vector<std::string> args, std::vector<std::string> env) {
    server_process p({dir.sub("data"), std::move(args), std::move(env), true});
    return http_client(p.port(), admin_secret)
        .get("/passthrough-referrers?account_id=acme")
        .header("ratelimit-limit");
  };
  BOOST_TEST(limit_with({"--config", conf}, {}) == "7");
  BOOST_TEST(limit_with({"--config=" + conf}, {"REFERRALD_RATE_LIMIT_BURST=9"}) == "9");
  BOOST_TEST(limit_with({"--config", conf, "--rate-limit-burst", "11"},
                        {"REFERRALD_RATE_LIMIT_BURST=9"}) == "11");
  BOOST_TEST(limit_with({}, {"REFERRALD_CONFIG=" + conf}) == "7");
  // A bad line stops the start, naming the file and the line.
  {
    std::ofstream out(conf);
    out << "rate-limit-burst = 7\nno-such-option = 1\n";
  }
  auto r = run_command(REFERRALD_BINARY, "--config " + conf + " --data " + dir.sub("data2"));
  BOOST_TEST(r.exit == 2);
  BOOST_TEST(r.output.find(conf + ":2: unknown option --no-such-option") != std::string::npos,
             r.output);
}

BOOST_AUTO_TEST_CASE(metrics_show_the_process_the_build_and_requests_in_flight) {
  auto body = http_client(server->port()).get("/metrics").body;
  auto value = [&](const std::string& name) {
    auto at = body.find("\n" + name + " ");
    BOOST_REQUIRE_MESSAGE(at != std::string::npos, name);
    return std::stod(body.substr(at + name.size() + 2));
  };
  BOOST_TEST(value("process_cpu_seconds_total") > 0);
  BOOST_TEST(value("process_resident_memory_bytes") > 1e6);
  BOOST_TEST(value("process_virtual_memory_bytes") > 1e6);
  BOOST_TEST(value("process_open_fds") >= 3);
  BOOST_TEST(value("process_max_fds") >= value("process_open_fds"));
  double started = value("process_start_time_seconds");
  double now = static_cast<double>(std::time(nullptr));
  // The kernel counts a process's start in ticks of its boot clock, which on a virtual
  // machine may stand seconds apart from the wall clock: a minute of slack either way.
  BOOST_TEST((started > now - 600 && started <= now + 60), started << " vs now " << now);
  BOOST_TEST(value("referrald_http_requests_in_flight") == 1);  // this one
  BOOST_TEST(body.find("referrald_build_info{version=\"" REFERRALD_VERSION_TEXT "\",") !=
             std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
