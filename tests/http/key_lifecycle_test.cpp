// API-key lifecycle over real HTTP (docs/api-guide.md, "API keys (admin)"): expiry, last_used_at,
// created_by, PATCH, rotation with an overlap, If-Match, and the admin audit streams
// (scope=keys, scope=brand).

#include <boost/test/unit_test.hpp>
#include <chrono>

#include "domain/base/clock.hpp"
#include "tests/http/fixture.hpp"
#include "tests/support/eventually.hpp"

using namespace referrald::testing;

namespace {

const std::string k_list = "/passthrough-referrers?account_id=acme";

}  // namespace

BOOST_FIXTURE_TEST_SUITE(key_lifecycle, server_fixture)

// Expiry, overlaps and last use run on the server's clock, which the test moves.
BOOST_FIXTURE_TEST_CASE(an_expired_key_is_refused_saying_it_expired, in_process_fixture) {
  auto admin = client();
  auto made = admin->post("/api-keys", R"({"name":"short","role":"viewer","accounts":["acme"],)"
                                       R"("brands":[],"expires_at":")" +
                                           in_ms(1500) + "\"}");
  BOOST_REQUIRE_MESSAGE(made.status == 201u, made.body);
  auto key = made.json();
  BOOST_TEST(key["data"]["created_by"].GetInt64() == 1);
  BOOST_TEST(key["data"]["expires_at"].IsString());
  auto viewer = client(key["data"]["secret"].GetString());
  BOOST_TEST(viewer->get(k_list).status == 200u);
  clock.advance(std::chrono::milliseconds(1499));
  BOOST_TEST(viewer->get(k_list).status == 200u);
  clock.advance(std::chrono::milliseconds(1));
  auto refused = viewer->get(k_list);
  BOOST_TEST(refused.status == 401u);
  BOOST_TEST(refused.body.find("expired at") != std::string::npos, refused.body);
  // A time in the past, or not a time, is refused at creation.
  auto past = admin->post("/api-keys", R"({"name":"x","role":"viewer","accounts":["acme"],)"
                                       R"("brands":[],"expires_at":"2020-01-01T00:00:00Z"})");
  BOOST_TEST(past.status == 400u);
  BOOST_TEST(names_field(past, "expires_at"));
  BOOST_TEST(admin
                 ->post("/api-keys", R"({"name":"x","role":"viewer","accounts":["acme"],)"
                                     R"("brands":[],"expires_at":"soon"})")
                 .status == 400u);
  // The refused use is in the keys audit stream.
  bool logged = eventually(
      [&] {
        auto log = admin->get("/audit-log?scope=keys").json();
        for (const auto& e : log["data"]["entries"].GetArray())
          if (std::string(e["type"].GetString()) == "key.expired_use") return true;
        return false;
      },
      std::chrono::milliseconds(2500), std::chrono::milliseconds(50));
  BOOST_TEST(logged);
}

BOOST_FIXTURE_TEST_CASE(last_used_at_is_recorded_at_most_once_a_minute, in_process_fixture) {
  auto admin = client();
  std::string secret = make_key("viewer");
  auto before = admin->get("/api-keys/2").json();
  BOOST_TEST(before["data"]["last_used_at"].IsNull());
  auto viewer = client(secret);
  BOOST_REQUIRE(viewer->get(k_list).status == 200u);
  std::string first;
  eventually(
      [&] {
        auto k = admin->get("/api-keys/2").json();
        if (k["data"]["last_used_at"].IsString()) first = k["data"]["last_used_at"].GetString();
        return !first.empty();
      },
      std::chrono::milliseconds(2500), std::chrono::milliseconds(50));
  BOOST_REQUIRE(!first.empty());
  BOOST_TEST(first == in_ms(0));
  // Uses 30 s later are within the minute: not recorded. Had they been, the use a minute
  // after the first would be within a minute of them, and not recorded either.
  clock.advance(std::chrono::seconds(30));
  for (int i = 0; i < 20; ++i)
    BOOST_REQUIRE(viewer->get(k_list).status == 200u);
  clock.advance(std::chrono::seconds(30));
  BOOST_REQUIRE(viewer->get(k_list).status == 200u);
  std::string minute_later = in_ms(0);
  BOOST_TEST(eventually([&] {
    return admin->get("/api-keys/2").json()["data"]["last_used_at"].GetString() == minute_later;
  }));
}

BOOST_FIXTURE_TEST_CASE(patch_changes_name_and_expiry_with_if_match, in_process_fixture) {
  auto admin = client();
  make_key("editor");
  auto got = admin->get("/api-keys/2");
  std::string tag = got.header("etag");
  BOOST_REQUIRE(!tag.empty());
  auto renamed = admin->request("PATCH", "/api-keys/2",
                                R"({"name":"ci deploys","expires_at":")" + in_ms(3600000) + "\"}",
                                {{"If-Match", tag}});
  BOOST_REQUIRE_MESSAGE(renamed.status == 200u, renamed.body);
  BOOST_TEST(renamed.json()["data"]["name"].GetString() == std::string("ci deploys"));
  BOOST_TEST(renamed.json()["data"]["expires_at"].IsString());
  auto stale = admin->request("PATCH", "/api-keys/2", R"({"name":"other"})", {{"If-Match", tag}});
  BOOST_TEST(stale.status == 412u);
  BOOST_TEST(admin->request("DELETE", "/api-keys/2", {}, {{"If-Match", tag}}).status == 412u);
  auto cleared = admin->patch("/api-keys/2", R"({"expires_at":null})");
  BOOST_TEST(cleared.json()["data"]["expires_at"].IsNull());
  // Only name and expires_at change.
  auto role = admin->patch("/api-keys/2", R"({"role":"admin"})");
  BOOST_TEST(role.status == 400u);
  BOOST_TEST(names_field(role, "role"));
  BOOST_TEST(admin->patch("/api-keys/2", "{}").status == 400u);
  BOOST_TEST(admin->patch("/api-keys/99", R"({"name":"x"})").status == 404u);
  // No key sets its own expiry, and the last full admin key cannot be given one.
  auto own = admin->patch("/api-keys/1", R"({"expires_at":")" + in_ms(3600000) + "\"}");
  BOOST_TEST(own.status == 403u);
  BOOST_TEST(names_field(own, "expires_at"));
  auto other_admin = client(make_key("admin"));
  auto last = other_admin->patch("/api-keys/1", R"({"expires_at":")" + in_ms(3600000) + "\"}");
  BOOST_TEST(last.status == 200u);  // key 3 (no expiry) remains
  auto then = admin->patch("/api-keys/3", R"({"expires_at":")" + in_ms(3600000) + "\"}");
  BOOST_TEST(then.status == 409u);
}

BOOST_FIXTURE_TEST_CASE(a_rotated_key_keeps_its_old_secret_for_the_overlap_only,
                        in_process_fixture) {
  auto admin = client();
  std::string old_secret = make_key("viewer");
  auto rotated = admin->post("/api-keys/2/rotate", R"({"overlap_seconds":2})");
  BOOST_REQUIRE_MESSAGE(rotated.status == 200u, rotated.body);
  BOOST_TEST(rotated.header("cache-control") == "no-store");
  auto r = rotated.json();
  std::string new_secret = r["data"]["secret"].GetString();
  BOOST_TEST(new_secret != old_secret);
  BOOST_TEST(r["data"]["id"].GetInt64() == 2);
  BOOST_TEST(r["data"]["previous_secret_expires_at"].IsString());
  // Both work during the overlap.
  BOOST_TEST(client(old_secret)->get(k_list).status == 200u);
  BOOST_TEST(client(new_secret)->get(k_list).status == 200u);
  clock.advance(std::chrono::milliseconds(1999));
  BOOST_TEST(client(old_secret)->get(k_list).status == 200u);
  clock.advance(std::chrono::milliseconds(1));
  auto late = client(old_secret)->get(k_list);
  BOOST_TEST(late.status == 401u);
  BOOST_TEST(late.body.find("rotation") != std::string::npos, late.body);
  BOOST_TEST(client(new_secret)->get(k_list).status == 200u);
  // The default overlap is a day; out of range is refused.
  auto again = admin->post("/api-keys/2/rotate", "");
  BOOST_REQUIRE(again.status == 200u);
  BOOST_TEST(client(new_secret)->get(k_list).status == 200u);
  BOOST_TEST(admin->post("/api-keys/2/rotate", R"({"overlap_seconds":2592001})").status == 400u);
  BOOST_TEST(admin->post("/api-keys/2/rotate", R"({"overlap":1})").status == 400u);
  // And a restart keeps it all.
  start();
  BOOST_TEST(client(new_secret)->get(k_list).status == 200u);
  BOOST_TEST(client(old_secret)->get(k_list).status == 401u);
  BOOST_TEST(client(again.json()["data"]["secret"].GetString())->get(k_list).status == 200u);
}

BOOST_AUTO_TEST_CASE(key_and_brand_changes_are_in_the_admin_audit_streams) {
  auto admin = client();
  make_key("viewer");
  BOOST_REQUIRE(admin->patch("/api-keys/2", R"({"name":"renamed"})").status == 200u);
  BOOST_REQUIRE(admin->post("/api-keys/2/rotate", "").status == 200u);
  BOOST_REQUIRE(admin->del("/api-keys/2").status == 204u);
  auto keys = admin->get("/audit-log?scope=keys&limit=2").json();
  const auto& page = keys["data"];
  BOOST_TEST(page["scope"].GetString() == std::string("keys"));
  BOOST_REQUIRE(page["entries"].Size() == 2u);
  BOOST_TEST(page["has_more"].GetBool());
  std::vector<std::string> types;
  for (const auto& e : page["entries"].GetArray())
    types.emplace_back(e["type"].GetString());
  auto rest = admin
                  ->get("/audit-log?scope=keys&starting_after=" +
                        std::string(page["next_starting_after"].GetString()))
                  .json();
  for (const auto& e : rest["data"]["entries"].GetArray()) {
    types.emplace_back(e["type"].GetString());
    BOOST_TEST(e["key_id"].GetInt64() == 2);
    BOOST_TEST(e["by_key_id"].GetInt64() == 1);
  }
  BOOST_TEST((types == std::vector<std::string>{"key.created", "key.updated", "key.rotated",
                                                "key.revoked"}));

  auto conn = admin->post("/5/ai-referrals/connections", R"({"name":"GA4","source_tool":"ga4"})");
  BOOST_REQUIRE(conn.status == 201u);
  std::string id = conn.json()["data"]["id"].GetString();
  auto pushed = admin->post("/5/ai-referrals/connections/" + id + "/events",
                            R"([{"date":"2026-11-20","raw_referrer_value":"chatgpt.com",)"
                            R"("raw_page_value":"/a","pageviews":1,"batch_id":"b-1"}])");
  BOOST_REQUIRE_MESSAGE(pushed.status == 200u, pushed.body);
  BOOST_REQUIRE(admin->del("/5/ai-referrals/connections/" + id).status == 204u);
  auto brand_doc = admin->get("/audit-log?scope=brand&brand_id=5").json();
  const auto& brand = brand_doc["data"];
  BOOST_REQUIRE(brand["entries"].Size() == 3u);
  BOOST_TEST(brand["entries"][0]["type"].GetString() == std::string("connection.created"));
  const auto& push = brand["entries"][1];
  BOOST_TEST(push["type"].GetString() == std::string("push"));
  BOOST_TEST(push["accepted"].GetInt() == 1);
  BOOST_TEST(push["batch_id"].GetString() == std::string("b-1"));
  BOOST_TEST(push["connection_id"].GetString() == id);
  BOOST_TEST(push["by_key_id"].GetInt64() == 1);
  BOOST_TEST(brand["entries"][2]["type"].GetString() == std::string("connection.deleted"));
  BOOST_TEST(admin->get("/audit-log?scope=brand&brand_id=6").json()["data"]["entries"].Size() ==
             0u);

  // Who may read them; what is refused.
  auto scoped = client(make_key("admin", R"(["acme"])", "[5]"));
  BOOST_TEST(scoped->get("/audit-log?scope=keys").status == 403u);
  BOOST_TEST(scoped->get("/audit-log?scope=brand&brand_id=5").status == 200u);
  BOOST_TEST(scoped->get("/audit-log?scope=brand&brand_id=6").status == 403u);
  BOOST_TEST(admin->get("/audit-log?scope=brand").status == 400u);
  BOOST_TEST(admin->get("/audit-log?scope=nothing").status == 400u);
  BOOST_TEST(admin->get("/audit-log?scope=keys&account_id=acme").status == 400u);
  BOOST_TEST(admin->get("/audit-log?account_id=acme&brand_id=5").status == 400u);
}

BOOST_AUTO_TEST_SUITE_END()
