// Publishable keys (docs/api-guide.md, "Publishable keys") and the tracker snippet's route,
// GET /js/referrald.js (docs/tracker.md).

#include <boost/test/unit_test.hpp>

#include "tests/http/fixture.hpp"

using namespace referrald::testing;

namespace {

const std::string k_shop = "https://shop.example";
const std::string k_visit =
    R"({"referrer":"https://pay.example/done","landing_url":"https://shop.example/thanks",)"
    R"("session":{"utm_source":"newsletter","utm_medium":"email"}})";

struct page_fixture : server_fixture {
  std::string secret;
  std::int64_t id = 0;

  page_fixture() {
    auto r = client()->post(
        "/api-keys", R"({"name":"shop pages","role":"publishable","accounts":["shop"],"brands":[],)"
                     R"("allowed_origins":["https://SHOP.example/","http://localhost:8081"]})");
    BOOST_REQUIRE_MESSAGE(r.status == 201u, r.body);
    secret = r.json()["data"]["secret"].GetString();
    id = r.json()["data"]["id"].GetInt64();
    BOOST_REQUIRE(client()
                      ->post("/passthrough-referrers?account_id=shop",
                             R"({"domain":"pay.example","utm_source":"pay"})")
                      .status == 201u);
  }

  http_reply resolve(const std::string& origin, const std::string& query = "",
                     const std::string& body = k_visit) {
    http_client page(server->port(), secret);
    std::vector<std::pair<std::string, std::string>> headers{{"Content-Type", "application/json"}};
    if (!origin.empty()) headers.emplace_back("Origin", origin);
    return page.request("POST", "/attribution/resolve?account_id=shop" + query, body, headers);
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(publishable_keys, page_fixture)

BOOST_AUTO_TEST_CASE(a_publishable_key_is_made_with_its_origins_and_a_pk_secret) {
  BOOST_TEST(secret.rfind("pk_", 0) == 0u);
  auto k = client()->get("/api-keys/" + std::to_string(id));
  BOOST_REQUIRE(k.status == 200u);
  auto d = k.json();
  BOOST_TEST(d["data"]["role"].GetString() == std::string("publishable"));
  // Normalized as browsers send Origin: lowercase, no trailing slash, sorted.
  const auto& origins = d["data"]["allowed_origins"];
  BOOST_REQUIRE(origins.Size() == 2u);
  BOOST_TEST(origins[0].GetString() == std::string("http://localhost:8081"));
  BOOST_TEST(origins[1].GetString() == k_shop);
  // Every other key lists none.
  auto me = client()->get("/api-keys/me").json();
  BOOST_TEST(me["data"]["allowed_origins"].Size() == 0u);
  // A rotation keeps the prefix.
  auto rotated = client()->post("/api-keys/" + std::to_string(id) + "/rotate", "");
  BOOST_REQUIRE(rotated.status == 200u);
  BOOST_TEST(std::string(rotated.json()["data"]["secret"].GetString()).rfind("pk_", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(a_publishable_key_resolves_from_its_origins_only) {
  auto ok = resolve(k_shop);
  BOOST_REQUIRE_MESSAGE(ok.status == 200u, ok.body);
  auto d = ok.json();
  BOOST_TEST(d["data"]["reason"].GetString() == std::string("passthrough_session"));
  BOOST_TEST(d["data"]["utm_source"].GetString() == std::string("newsletter"));
  BOOST_TEST(ok.header("access-control-allow-origin") == k_shop);
  BOOST_TEST(ok.header("vary").find("Origin") != std::string::npos);
  BOOST_TEST(!ok.header("ratelimit-limit").empty());

  for (std::string origin :
       {std::string("https://evil.example"), std::string("http://shop.example"),
        std::string("https://shop.example:444")}) {
    auto refused = resolve(origin);
    BOOST_TEST(refused.status == 403u, origin);
    BOOST_TEST(error_code(refused) == "forbidden");
    BOOST_TEST(names_field(refused, "Origin"));
    BOOST_TEST(refused.header("access-control-allow-origin").empty(), origin);
  }
  auto no_origin = resolve("");
  BOOST_TEST(no_origin.status == 403u);
  BOOST_TEST(names_field(no_origin, "Origin"));
}

BOOST_AUTO_TEST_CASE(a_publishable_key_calls_no_other_route_and_no_explain_or_as_of) {
  http_client page(server->port(), secret);
  std::vector<std::pair<std::string, std::string>> from_shop{{"Origin", k_shop}};
  for (auto [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/passthrough-referrers?account_id=shop"},
           {"GET", "/api-keys/me"},
           {"GET", "/api-keys"},
           {"GET", "/known-referrers"},
           {"POST", "/attribution/resolve-batch?account_id=shop"},
           {"GET", "/audit-log?scope=account&account_id=shop"}}) {
    auto r = page.request(method, path, method == "POST" ? R"({"visits":[]})" : "", from_shop);
    BOOST_TEST(r.status == 403u, method + " " + path);
    BOOST_TEST(r.body.find("publishable") != std::string::npos, r.body);
  }
  for (std::string q : {"&explain=true", "&as_of=2026-01-01T00:00:00Z"}) {
    auto r = resolve(k_shop, q);
    BOOST_TEST(r.status == 403u, q);
    BOOST_TEST(error_code(r) == "forbidden");
  }
  // Its accounts only.
  auto other = page.request("POST", "/attribution/resolve?account_id=beta", k_visit,
                            {{"Origin", k_shop}, {"Content-Type", "application/json"}});
  BOOST_TEST(other.status == 403u);
}

BOOST_AUTO_TEST_CASE(a_preflight_is_answered_for_a_publishable_keys_origins) {
  http_client anon(server->port());
  auto pre = anon.request("OPTIONS", "/attribution/resolve?account_id=shop", "",
                          {{"Origin", k_shop},
                           {"Access-Control-Request-Method", "POST"},
                           {"Access-Control-Request-Headers", "authorization, content-type"}});
  BOOST_TEST(pre.status == 204u);
  BOOST_TEST(pre.header("access-control-allow-origin") == k_shop);
  BOOST_TEST(pre.header("access-control-allow-headers").find("Authorization") != std::string::npos);
  // Not for an origin no key lists, and not on another path.
  auto stranger =
      anon.request("OPTIONS", "/attribution/resolve", "",
                   {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "POST"}});
  BOOST_TEST(stranger.status == 403u);
  auto elsewhere = anon.request("OPTIONS", "/passthrough-referrers", "",
                                {{"Origin", k_shop}, {"Access-Control-Request-Method", "GET"}});
  BOOST_TEST(elsewhere.status == 403u);
  // Revoked: its origins are no longer answered.
  BOOST_REQUIRE(client()->del("/api-keys/" + std::to_string(id)).status == 204u);
  auto after = anon.request("OPTIONS", "/attribution/resolve", "",
                            {{"Origin", k_shop}, {"Access-Control-Request-Method", "POST"}});
  BOOST_TEST(after.status == 403u);
}

BOOST_AUTO_TEST_CASE(a_publishable_key_is_validated_when_made_and_changed) {
  auto admin = client();
  struct refused_case {
    std::string body, field;
  };
  for (
      const auto& c : std::vector<refused_case>{
          {R"({"name":"p","role":"publishable","accounts":["shop"],"brands":[]})",
           "allowed_origins"},
          {R"({"name":"p","role":"publishable","accounts":["shop"],"brands":[],"allowed_origins":[]})",
           "allowed_origins"},
          {R"({"name":"p","role":"publishable","accounts":["*"],"brands":[],"allowed_origins":["https://a.example"]})",
           "accounts"},
          {R"({"name":"p","role":"publishable","accounts":["shop"],"brands":[1],"allowed_origins":["https://a.example"]})",
           "brands"},
          {R"({"name":"p","role":"publishable","accounts":["shop"],"brands":[],"allowed_origins":["https://a.example/path"]})",
           "allowed_origins[0]"},
          {R"({"name":"p","role":"publishable","accounts":["shop"],"brands":[],"allowed_origins":["ftp://a.example"]})",
           "allowed_origins[0]"},
          {R"({"name":"p","role":"publishable","accounts":["shop"],"brands":[],"allowed_origins":["a.example"]})",
           "allowed_origins[0]"},
          {R"({"name":"p","role":"publishable","accounts":["shop"],"brands":[],"allowed_origins":["https://u@a.example"]})",
           "allowed_origins[0]"},
          {R"({"name":"p","role":"publishable","accounts":["shop"],"brands":[],"allowed_origins":[7]})",
           "allowed_origins[0]"},
          {R"({"name":"v","role":"viewer","accounts":["shop"],"brands":[],"allowed_origins":["https://a.example"]})",
           "allowed_origins"},
      }) {
    auto r = admin->post("/api-keys", c.body);
    BOOST_TEST(r.status == 400u, c.body);
    BOOST_TEST(names_field(r, c.field), c.body << " -> " << r.body);
  }
  // No browser sends a pattern or port 0: both were accepted and could never match.
  for (std::string origin : {"https://*.acme.example", "https://shop.acme.example:0"}) {
    auto r = admin->post("/api-keys", R"({"name":"p","role":"publishable","accounts":["shop"],)"
                                      R"("brands":[],"allowed_origins":[")" +
                                          origin + R"("]})");
    BOOST_TEST(r.status == 400u, origin);
    BOOST_TEST(names_field(r, "allowed_origins[0]"), r.body);
  }
  auto wildcard =
      admin->post("/api-keys", R"({"name":"p","role":"publishable","accounts":["shop"],)"
                               R"("brands":[],"allowed_origins":["https://*.a.example"]})");
  BOOST_TEST(wildcard.body.find("wildcards are not supported") != std::string::npos, wildcard.body);
  // Its origins change with PATCH; another key has none to change.
  auto patched = admin->patch("/api-keys/" + std::to_string(id),
                              R"({"allowed_origins":["https://www.shop.example"]})");
  BOOST_REQUIRE_MESSAGE(patched.status == 200u, patched.body);
  BOOST_TEST(resolve(k_shop).status == 403u);
  BOOST_TEST(resolve("https://www.shop.example").status == 200u);
  auto viewer =
      admin->post("/api-keys", R"({"name":"v","role":"viewer","accounts":["shop"],"brands":[]})");
  BOOST_REQUIRE(viewer.status == 201u);
  auto wrong = admin->patch("/api-keys/" + std::to_string(viewer.json()["data"]["id"].GetInt64()),
                            R"({"allowed_origins":["https://a.example"]})");
  BOOST_TEST(wrong.status == 400u);
  BOOST_TEST(names_field(wrong, "allowed_origins"));
}

BOOST_AUTO_TEST_CASE(the_tracker_script_is_served_to_any_page) {
  http_client anon(server->port());
  auto js = anon.request("GET", "/js/referrald.js", "", {{"Origin", "https://anywhere.example"}});
  BOOST_REQUIRE(js.status == 200u);
  BOOST_TEST(js.header("content-type") == "text/javascript; charset=utf-8");
  BOOST_TEST(js.header("access-control-allow-origin") == "*");
  BOOST_TEST(js.header("cross-origin-resource-policy") == "cross-origin");
  BOOST_TEST(js.header("cache-control") == "public, max-age=3600");
  BOOST_TEST(js.body.find("window.referrald") != std::string::npos);
  auto again = anon.request("GET", "/js/referrald.js", "", {{"If-None-Match", js.header("etag")}});
  BOOST_TEST(again.status == 304u);
}

// A static file refused a cache-busting query (400: strict query parameters), and a
// preflight on what any page may read was a 403 for an origin no key lists.
BOOST_AUTO_TEST_CASE(a_static_file_ignores_its_query_and_any_page_may_preflight_it) {
  http_client anon(server->port());
  auto plain = anon.get("/js/referrald.js");
  for (std::string query : {"?v=2", "?v=2&cb=1700000000", "?%zz"}) {
    auto js = anon.get("/js/referrald.js" + query);
    BOOST_TEST(js.status == 200u, query);
    BOOST_TEST(js.body == plain.body);
    BOOST_TEST(anon.get("/openapi.json" + query).status == 200u, query);
    BOOST_TEST(anon.get("/console/app.js" + query).status == 200u, query);
  }
  // An API route keeps its strict parameters.
  BOOST_TEST(anon.get("/healthz?v=2").status == 400u);
  for (std::string path : {"/js/referrald.js", "/openapi.json"}) {
    auto pre = anon.request(
        "OPTIONS", path, "",
        {{"Origin", "https://anywhere.example"}, {"Access-Control-Request-Method", "GET"}});
    BOOST_TEST(pre.status == 204u, path << ": " << pre.body);
    BOOST_TEST(pre.header("access-control-allow-origin") == "https://anywhere.example");
  }
  // Not on an API route.
  auto api = anon.request(
      "OPTIONS", "/passthrough-referrers", "",
      {{"Origin", "https://anywhere.example"}, {"Access-Control-Request-Method", "GET"}});
  BOOST_TEST(api.status == 403u);
}

BOOST_AUTO_TEST_SUITE_END()

// Each client address has its own bucket of the publishable limit.
BOOST_AUTO_TEST_CASE(publishable_keys_are_rate_limited_per_address) {
  temp_dir dir;
  server_process server(server_process::options{
      dir.sub("data"),
      {"--publishable-rate-limit-rps", "1", "--publishable-rate-limit-burst", "2"},
      {},
      true});
  http_client admin(server.port(), admin_secret);
  auto k =
      admin.post("/api-keys", R"({"name":"p","role":"publishable","accounts":["shop"],"brands":[],)"
                              R"("allowed_origins":["https://shop.example"]})");
  BOOST_REQUIRE(k.status == 201u);
  http_client page(server.port(), k.json()["data"]["secret"].GetString());
  std::vector<unsigned> statuses;
  for (int i = 0; i < 4; ++i) {
    statuses.push_back(
        page.request("POST", "/attribution/resolve?account_id=shop",
                     R"({"landing_url":"https://shop.example/"})",
                     {{"Origin", "https://shop.example"}, {"Content-Type", "application/json"}})
            .status);
  }
  BOOST_TEST(statuses.front() == 200u);
  BOOST_TEST(statuses.back() == 429u);
  // The admin key's own bucket is not the page's.
  BOOST_TEST(admin.get("/api-keys/me").status == 200u);
}
