// /console/: the console's own files, from the binary, and nothing else.

#include "tests/http/fixture.hpp"

using namespace referrald::testing;

BOOST_FIXTURE_TEST_SUITE(console, server_fixture)

BOOST_AUTO_TEST_CASE(the_console_is_served_without_a_key_with_a_strict_policy) {
  http_client anonymous(server->port());
  auto moved = anonymous.get("/console");
  BOOST_TEST(moved.status == 301u);
  BOOST_TEST(moved.header("location") == "/console/");
  BOOST_TEST(anonymous.get("/v1/console").header("location") == "/v1/console/");
  auto page = anonymous.get("/console/");
  BOOST_TEST(page.status == 200u);
  BOOST_TEST(page.header("content-type").starts_with("text/html"));
  BOOST_TEST(page.body.find("app.js") != std::string::npos);
  const std::string policy = page.header("content-security-policy");
  BOOST_TEST(policy.find("script-src 'self'") != std::string::npos, policy);
  BOOST_TEST(policy.find("unsafe") == std::string::npos, policy);
  BOOST_TEST(policy.find("frame-ancestors 'none'") != std::string::npos, policy);
  BOOST_TEST(page.header("x-content-type-options") == "nosniff");
  for (const char* file : {"/console/app.js", "/console/app.css"}) {
    auto r = anonymous.get(file);
    BOOST_TEST(r.status == 200u, file);
    BOOST_TEST(r.header("cache-control") == "no-cache");
    // Revalidated with its ETag: a 304 without a body while unchanged.
    auto again = anonymous.request("GET", file, {}, {{"If-None-Match", r.header("etag")}});
    BOOST_TEST(again.status == 304u, file);
    BOOST_TEST(again.body.empty());
  }
  BOOST_TEST(
      anonymous.get("/console/app.js").header("content-type").starts_with("text/javascript"));
}

BOOST_AUTO_TEST_CASE(no_path_reaches_outside_the_console_s_own_files) {
  http_client anonymous(server->port());
  for (const char* path : {"/console/..%2F..%2Fetc%2Fpasswd", "/console/%2e%2e", "/console/..",
                           "/console/app.js%00.css", "/console/APP.JS", "/console/index.html",
                           "/console/app.js/", "/console/%ff%fe", "/console/.%2fapp.js"}) {
    auto r = anonymous.get(path);
    BOOST_TEST((r.status == 404u || r.status == 400u), path << " -> " << r.status);
    BOOST_TEST(r.body.find("root:") == std::string::npos, path);
    BOOST_TEST(r.header("content-type").starts_with("application/json"), path);
  }
  auto long_name = anonymous.get("/console/" + std::string(4000, 'a') + ".js");
  BOOST_TEST(long_name.status == 404u);
  // Only reads: a write to it is 405 with the allowed methods.
  auto posted = anonymous.post("/console/app.js", "{}");
  BOOST_TEST(posted.status == 405u);
  BOOST_TEST(posted.header("allow").find("GET") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_key_learns_its_own_role_and_grants_and_nothing_more) {
  std::string viewer = make_key("viewer", R"(["acme"])", R"([42])");
  auto me = client(viewer)->get("/api-keys/me");
  BOOST_REQUIRE(me.status == 200u);
  auto d = me.json();
  BOOST_TEST(d["data"]["role"].GetString() == std::string("viewer"));
  BOOST_TEST(d["data"]["accounts"][0].GetString() == std::string("acme"));
  BOOST_TEST(!d["data"].HasMember("secret_sha256"));
  BOOST_TEST(me.body.find(viewer) == std::string::npos);  // never the secret
  // Another key's details stay admin-only.
  BOOST_TEST(client(viewer)->get("/api-keys/1").status == 403u);
  BOOST_TEST(http_client(server->port()).get("/api-keys/me").status == 401u);
}

BOOST_AUTO_TEST_SUITE_END()
