// Authentication, roles, tenancy (docs/api-guide.md, "API keys (admin)") and the /api-keys admin
// API.

#include <sys/stat.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <fstream>
#include <thread>

#include "tests/http/fixture.hpp"
#include "tests/support/eventually.hpp"

using namespace referrald::testing;

namespace {

const std::string k_create = R"({"domain":"a.example.com","utm_source":"s"})";

}  // namespace

BOOST_FIXTURE_TEST_SUITE(auth, server_fixture)

BOOST_AUTO_TEST_CASE(a_missing_or_unknown_key_is_401_with_www_authenticate) {
  http_client anon(server->port());
  auto r = anon.get("/passthrough-referrers?account_id=acme");
  BOOST_TEST(r.status == 401u);
  BOOST_TEST(r.header("www-authenticate").rfind("Bearer", 0) == 0u);
  BOOST_TEST(error_code(r) == "unauthorized");
  http_client wrong(server->port(), "rk_not_a_real_key");
  BOOST_TEST(wrong.get("/passthrough-referrers?account_id=acme").status == 401u);
  auto basic = anon.request("GET", "/passthrough-referrers?account_id=acme", {},
                            {{"Authorization", "Basic dXNlcjpwYXNz"}});
  BOOST_TEST(basic.status == 401u);
  auto lower = anon.request("GET", "/passthrough-referrers?account_id=acme", {},
                            {{"Authorization", std::string("bearer ") + admin_secret}});
  BOOST_TEST(lower.status == 200u);
}

BOOST_AUTO_TEST_CASE(basic_auth_with_the_secret_as_password_is_the_same_key_as_bearer) {
  std::string secret = make_key("viewer");
  auto bearer = client(secret)->get("/api-keys/me");
  BOOST_REQUIRE(bearer.status == 200u);
  http_client anon(server->port());
  // curl -u :SECRET, -u anyone:SECRET, and -u SECRET: (the secret as user, no password).
  for (std::string given : {":" + secret, "snowplow:" + secret, secret + ":"}) {
    auto me =
        anon.request("GET", "/api-keys/me", {}, {{"Authorization", basic_authorization(given)}});
    BOOST_TEST(me.status == 200u, given);
    BOOST_TEST(me.json()["data"]["id"].GetInt64() == bearer.json()["data"]["id"].GetInt64());
  }
  // The key's role holds whatever the scheme: a viewer cannot write.
  auto write = anon.request("POST", "/passthrough-referrers?account_id=acme", k_create,
                            {{"Authorization", basic_authorization(":" + secret)}});
  BOOST_TEST(write.status == 403u);
}

// What Snowplow's API Request Enrichment sends with the README's configuration: its inputs as
// a JSON object of strings, application/json, Basic with an empty user name.
BOOST_AUTO_TEST_CASE(the_snowplow_enrichment_request_of_the_readme_is_answered) {
  std::string secret = make_key("viewer", R"(["hotel"])");
  http_client snowplow(server->port());
  auto r = snowplow.request(
      "POST", "/attribution/resolve?account_id=hotel",
      R"({"referrer":"https://www.google.com/search?q=rooms","landing_url":"https://hotel.example/"})",
      {{"Authorization", basic_authorization(":" + secret)}, {"Content-Type", "application/json"}});
  BOOST_REQUIRE(r.status == 200u);
  // The output's jsonPath, $.data, is the resolution.
  auto d = r.json();
  BOOST_TEST(d["data"]["utm_source"].GetString() == std::string("google"));
  BOOST_TEST(d["data"]["channel"].GetString() == std::string("Organic Search"));
}

BOOST_AUTO_TEST_CASE(a_wrong_basic_password_is_401_challenging_both_schemes) {
  http_client anon(server->port());
  for (std::string authorization :
       {basic_authorization("user:rk_wrong"), basic_authorization("no-colon"),
        std::string("Basic %%%"), std::string("Digest username=\"a\"")}) {
    auto r = anon.request("GET", "/passthrough-referrers?account_id=acme", {},
                          {{"Authorization", authorization}});
    BOOST_TEST(r.status == 401u, authorization);
    BOOST_TEST(error_code(r) == "unauthorized");
    auto challenge = r.header("www-authenticate");
    BOOST_TEST(challenge.rfind("Bearer realm=\"referrald\"", 0) == 0u, challenge);
    BOOST_TEST(challenge.find("Basic realm=\"referrald\"") != std::string::npos, challenge);
  }
  // A page's script (the console) is not challenged with Basic: the browser would ask its
  // user for a password.
  auto fetched = anon.request("GET", "/passthrough-referrers?account_id=acme", {},
                              {{"Sec-Fetch-Mode", "cors"}});
  BOOST_TEST(fetched.status == 401u);
  BOOST_TEST(fetched.header("www-authenticate") == "Bearer realm=\"referrald\"");
}

// Of two Authorization headers the first won, silently (a second Host was already a 400):
// a field a request has once is refused when given twice.
BOOST_AUTO_TEST_CASE(a_field_a_request_has_once_given_twice_is_400) {
  http_client anon(server->port());
  std::string viewer = make_key("viewer");
  auto two = anon.request("GET", "/passthrough-referrers?account_id=acme", {},
                          {{"Authorization", std::string("Bearer ") + admin_secret},
                           {"Authorization", "Bearer " + viewer}});
  BOOST_TEST(two.status == 400u, two.body);
  BOOST_TEST(error_code(two) == "bad_request");
  BOOST_TEST(two.body.find("Authorization is given more than once") != std::string::npos, two.body);
  auto types = anon.request("POST", "/passthrough-referrers?account_id=acme", k_create,
                            {{"Authorization", std::string("Bearer ") + admin_secret},
                             {"Content-Type", "application/json"},
                             {"Content-Type", "text/csv"}});
  BOOST_TEST(types.status == 400u, types.body);
  BOOST_TEST(types.body.find("Content-Type is given more than once") != std::string::npos);
  auto keys = anon.request("POST", "/passthrough-referrers?account_id=acme", k_create,
                           {{"Authorization", std::string("Bearer ") + admin_secret},
                            {"Idempotency-Key", "a"},
                            {"idempotency-key", "b"}});
  BOOST_TEST(keys.status == 400u, keys.body);
  BOOST_TEST(keys.body.find("Idempotency-Key is given more than once") != std::string::npos);
  BOOST_TEST(
      client()->get("/passthrough-referrers?account_id=acme").json()["data"]["total"].GetInt() ==
      0);
}

// An unknown scheme quoted the first 20 bytes of the header: "Authorization: rk_..."
// without "Bearer" answered with part of the secret.
BOOST_AUTO_TEST_CASE(an_unknown_authorization_scheme_never_quotes_the_credential) {
  http_client anon(server->port());
  for (std::string authorization : {std::string(admin_secret), "Token " + std::string(admin_secret),
                                    std::string(admin_secret) + " x"}) {
    auto r = anon.request("GET", "/passthrough-referrers?account_id=acme", {},
                          {{"Authorization", authorization}});
    BOOST_TEST(r.status == 401u);
    BOOST_TEST(r.body.find(std::string(admin_secret).substr(0, 6)) == std::string::npos, r.body);
    BOOST_TEST(r.body.find("Bearer <API key>") != std::string::npos, r.body);
  }
}

BOOST_AUTO_TEST_CASE(a_viewer_reads_but_cannot_write) {
  auto viewer = client(make_key("viewer"));
  BOOST_TEST(viewer->get("/passthrough-referrers?account_id=acme").status == 200u);
  auto post = viewer->post("/passthrough-referrers?account_id=acme", k_create);
  BOOST_TEST(post.status == 403u);
  BOOST_TEST(error_code(post) == "forbidden");
  auto admin = client();
  BOOST_REQUIRE(admin->post("/passthrough-referrers?account_id=acme", k_create).status == 201u);
  BOOST_TEST(
      viewer->patch("/passthrough-referrers/1?account_id=acme", R"({"utm_term":"x"})").status ==
      403u);
  BOOST_TEST(viewer->del("/passthrough-referrers/1?account_id=acme").status == 403u);
  BOOST_TEST(viewer->get("/passthrough-referrers/1?account_id=acme").status == 200u);
}

BOOST_AUTO_TEST_CASE(an_editor_writes_but_cannot_manage_keys) {
  auto editor = client(make_key("editor"));
  BOOST_TEST(editor->post("/passthrough-referrers?account_id=acme", k_create).status == 201u);
  BOOST_TEST(editor->get("/api-keys").status == 403u);
  BOOST_TEST(editor->post("/api-keys", R"({"name":"x","role":"admin"})").status == 403u);
}

BOOST_AUTO_TEST_CASE(keys_are_limited_to_their_accounts) {
  auto acme = client(make_key("editor", R"(["acme"])"));
  BOOST_TEST(acme->post("/passthrough-referrers?account_id=acme", k_create).status == 201u);
  auto other = acme->get("/passthrough-referrers?account_id=beta");
  BOOST_TEST(other.status == 403u);
  BOOST_TEST(error_code(other) == "forbidden");
  BOOST_TEST(acme->post("/passthrough-referrers?account_id=beta", k_create).status == 403u);
  BOOST_TEST(acme->get("/passthrough-referrers/1?account_id=beta").status == 403u);
}

BOOST_AUTO_TEST_CASE(ids_are_never_looked_up_across_accounts) {
  auto admin = client();
  BOOST_REQUIRE(admin->post("/passthrough-referrers?account_id=acme", k_create).status == 201u);
  auto r = admin->get("/passthrough-referrers/1?account_id=beta");
  BOOST_TEST(r.status == 404u);
  BOOST_TEST(error_code(r) == "not_found");
  BOOST_TEST(
      admin->patch("/passthrough-referrers/1?account_id=beta", R"({"utm_term":"x"})").status ==
      404u);
  BOOST_TEST(admin->del("/passthrough-referrers/1?account_id=beta").status == 404u);
  BOOST_TEST(admin->get("/passthrough-referrers/1?account_id=acme").status == 200u);
}

BOOST_AUTO_TEST_CASE(account_ids_are_validated) {
  auto admin = client();
  for (const char* id : {"Acme", "_acme", "a%20b", "a/b"}) {
    auto r = admin->get(std::string("/passthrough-referrers?account_id=") + id);
    BOOST_TEST(r.status == 400u, id);
    BOOST_TEST(names_field(r, "account_id"));
  }
  auto missing = admin->get("/passthrough-referrers");
  BOOST_TEST(missing.status == 400u);
  BOOST_TEST(names_field(missing, "account_id"));
  auto too_long = admin->get("/passthrough-referrers?account_id=" + std::string(65, 'a'));
  BOOST_TEST(too_long.status == 400u);
  BOOST_TEST(admin->get("/passthrough-referrers?account_id=" + std::string(64, 'a')).status ==
             200u);
}

BOOST_AUTO_TEST_CASE(key_creation_shows_the_secret_once) {
  auto admin = client();
  auto r = admin->post("/api-keys", R"({"name":"ci","role":"viewer","accounts":["acme"],
                                        "brands":[7]})");
  BOOST_TEST(r.status == 201u);
  auto d = r.json();
  BOOST_TEST(d["success"].GetBool());
  const auto& k = d["data"];
  BOOST_TEST(k["id"].GetInt64() > 1);
  BOOST_TEST(k["name"].GetString() == std::string("ci"));
  BOOST_TEST(k["role"].GetString() == std::string("viewer"));
  BOOST_TEST(k["accounts"][0].GetString() == std::string("acme"));
  BOOST_TEST(k["brands"][0].GetInt64() == 7);
  std::string secret = k["secret"].GetString();
  BOOST_TEST(secret.rfind("rk_", 0) == 0u);

  auto list = admin->get("/api-keys");
  BOOST_TEST(list.status == 200u);
  BOOST_TEST(list.body.find(secret) == std::string::npos);
  BOOST_TEST(list.body.find("secret") == std::string::npos);
  BOOST_TEST(list.json()["data"]["keys"].Size() == 2u);
  auto one = admin->get("/api-keys/" + std::to_string(k["id"].GetInt64()));
  BOOST_TEST(one.status == 200u);
  BOOST_TEST(!one.json()["data"].HasMember("secret"));
  BOOST_TEST(
      http_client(server->port(), secret).get("/passthrough-referrers?account_id=acme").status ==
      200u);
}

BOOST_AUTO_TEST_CASE(key_creation_is_validated) {
  auto admin = client();
  auto no_role = admin->post("/api-keys", R"({"name":"x"})");
  BOOST_TEST(no_role.status == 400u);
  BOOST_TEST(names_field(no_role, "role"));
  auto bad_role = admin->post("/api-keys", R"({"name":"x","role":"root"})");
  BOOST_TEST(names_field(bad_role, "role"));
  auto bad_account = admin->post("/api-keys", R"({"name":"x","role":"viewer","accounts":["A B"]})");
  BOOST_TEST(bad_account.status == 400u);
  BOOST_TEST(names_field(bad_account, "accounts[0]"));
  auto bad_brand = admin->post("/api-keys", R"({"name":"x","role":"viewer","brands":[-3]})");
  BOOST_TEST(names_field(bad_brand, "brands[0]"));
  auto secret = admin->post("/api-keys", R"({"name":"x","role":"viewer","secret":"mine"})");
  BOOST_TEST(names_field(secret, "secret"));
  auto read_only = admin->post("/api-keys", R"({"name":"x","role":"viewer","id":9})");
  BOOST_TEST(names_field(read_only, "id"));
}

BOOST_AUTO_TEST_CASE(a_deleted_key_stops_working_at_once) {
  auto admin = client();
  auto r =
      admin->post("/api-keys", R"({"name":"temp","role":"editor","accounts":["*"],"brands":[]})");
  std::string secret = r.json()["data"]["secret"].GetString();
  auto id = std::to_string(r.json()["data"]["id"].GetInt64());
  http_client temp(server->port(), secret);
  BOOST_TEST(temp.get("/passthrough-referrers?account_id=acme").status == 200u);
  auto gone = admin->del("/api-keys/" + id);
  BOOST_TEST(gone.status == 204u);
  BOOST_TEST(gone.body.empty());
  BOOST_TEST(temp.get("/passthrough-referrers?account_id=acme").status == 401u);
  BOOST_TEST(admin->del("/api-keys/" + id).status == 404u);
  BOOST_TEST(admin->get("/api-keys/" + id).status == 404u);
  BOOST_TEST(admin->del("/api-keys/999").status == 404u);
  BOOST_TEST(admin->del("/api-keys/abc").status == 404u);
}

BOOST_AUTO_TEST_CASE(a_scoped_admin_cannot_grant_or_see_beyond_its_tenants) {
  auto scoped = client(make_key("admin", R"(["acme"])", R"([1])"));
  auto wide =
      scoped->post("/api-keys", R"({"name":"x","role":"viewer","accounts":["*"],"brands":[]})");
  BOOST_TEST(wide.status == 403u);
  auto other =
      scoped->post("/api-keys", R"({"name":"x","role":"viewer","accounts":["beta"],"brands":[]})");
  BOOST_TEST(other.status == 403u);
  auto ok =
      scoped->post("/api-keys", R"({"name":"x","role":"viewer","accounts":["acme"],"brands":[1]})");
  BOOST_TEST(ok.status == 201u);
  // It sees its own key and the one it made, not the bootstrap admin (id 1).
  auto list = scoped->get("/api-keys");
  BOOST_TEST(list.json()["data"]["keys"].Size() == 2u);
  BOOST_TEST(scoped->get("/api-keys/1").status == 404u);
  BOOST_TEST(scoped->del("/api-keys/1").status == 404u);
}

BOOST_AUTO_TEST_CASE(keys_survive_a_restart) {
  std::string secret = make_key("viewer", R"(["acme"])");
  BOOST_REQUIRE(server->stop(SIGTERM) == 0);
  start();
  BOOST_TEST(client(secret)->get("/passthrough-referrers?account_id=acme").status == 200u);
  BOOST_TEST(client(secret)->get("/passthrough-referrers?account_id=beta").status == 403u);
}

BOOST_AUTO_TEST_CASE(without_a_bootstrap_key_the_first_start_prints_one) {
  temp_dir other;
  server_process p({other.sub("data"), {}, {}, false});
  std::string text;
  eventually(
      [&] {
        text = p.stderr_text();
        return text.find("rk_") != std::string::npos;
      },
      std::chrono::seconds(5), std::chrono::milliseconds(10));
  auto at = text.find("rk_");
  BOOST_REQUIRE(at != std::string::npos);
  std::string secret = text.substr(at, 46);
  BOOST_TEST(http_client(p.port(), secret).get("/api-keys").status == 200u);
  BOOST_REQUIRE(p.stop(SIGTERM) == 0);
  server_process again({other.sub("data"), {}, {}, false});
  BOOST_TEST(again.stderr_text().find("rk_") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(with_an_admin_key_file_the_first_secret_goes_there_not_to_stderr) {
  temp_dir other;
  std::string file = other.sub("initial-admin-key");
  server_process p({other.sub("data"), {"--admin-key-file", file}, {}, false});
  std::string text;
  eventually(
      [&] {
        text = p.stderr_text();
        return text.find("created admin API key") != std::string::npos;
      },
      std::chrono::seconds(5), std::chrono::milliseconds(10));
  BOOST_TEST(text.find("its secret is in " + file + " (mode 0600)") != std::string::npos, text);
  BOOST_TEST(text.find("rk_") == std::string::npos, text);
  struct stat st {};
  BOOST_REQUIRE(::stat(file.c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);
  std::ifstream in(file);
  std::string secret;
  std::getline(in, secret);
  BOOST_TEST(secret.starts_with("rk_"));
  BOOST_TEST(http_client(p.port(), secret).get("/api-keys").status == 200u);
  // A later start makes no key and leaves the file as it is.
  BOOST_REQUIRE(p.stop(SIGTERM) == 0);
  server_process again({other.sub("data"), {"--admin-key-file", file}, {}, false});
  std::ifstream again_in(file);
  std::string kept;
  std::getline(again_in, kept);
  BOOST_TEST(kept == secret);
  BOOST_TEST(again.stderr_text().find("created admin API key") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(keys_must_name_their_tenants) {
  auto admin = client();
  auto no_brands = admin->post("/api-keys", R"({"name":"x","role":"viewer","accounts":["acme"]})");
  BOOST_TEST(no_brands.status == 400u);
  BOOST_TEST(names_field(no_brands, "brands"));
  auto no_accounts = admin->post("/api-keys", R"({"name":"x","role":"viewer","brands":[1]})");
  BOOST_TEST(names_field(no_accounts, "accounts"));
  auto nothing =
      admin->post("/api-keys", R"({"name":"x","role":"viewer","accounts":[],"brands":[]})");
  BOOST_TEST(nothing.status == 400u);
  auto brand_only =
      admin->post("/api-keys", R"({"name":"x","role":"editor","accounts":[],"brands":[9]})");
  BOOST_TEST(brand_only.status == 201u);
  std::string many = "[";
  for (int i = 0; i < 1001; ++i)
    many += (i ? ",\"a" : "\"a") + std::to_string(i) + "\"";
  many += "]";
  auto too_many = admin->post(
      "/api-keys", R"({"name":"x","role":"viewer","brands":[],"accounts":)" + many + "}");
  BOOST_TEST(too_many.status == 400u);
  BOOST_TEST(names_field(too_many, "accounts"));
}

BOOST_AUTO_TEST_CASE(a_revoked_bootstrap_key_stays_revoked_after_a_restart) {
  auto admin = client();
  // Another admin first, so that access is not lost.
  std::string other = make_key("admin");
  BOOST_REQUIRE(client(other)->del("/api-keys/1").status == 204u);
  BOOST_TEST(admin->get("/api-keys").status == 401u);
  BOOST_REQUIRE(server->stop(SIGTERM) == 0);
  start();  // REFERRALD_BOOTSTRAP_KEY is set to the same secret again
  BOOST_TEST(client()->get("/api-keys").status == 401u);
  BOOST_TEST(client(other)->get("/api-keys").status == 200u);
}

BOOST_AUTO_TEST_SUITE_END()
