// HTTP behaviour shared by every route: health, metrics, routing errors, body rules,
// keep-alive, the /v1 alias.

#include <sys/wait.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/http/fixture.hpp"
#include "tests/support/eventually.hpp"

using namespace referrald::testing;

BOOST_FIXTURE_TEST_SUITE(protocol, server_fixture)

BOOST_AUTO_TEST_CASE(healthz_needs_no_key) {
  http_client c(server->port());
  auto r = c.get("/healthz");
  BOOST_TEST(r.status == 200u);
  BOOST_TEST(r.body == R"({"status":"ok"})");
  BOOST_TEST(c.get("/v1/healthz").status == 200u);
}

BOOST_AUTO_TEST_CASE(the_listening_line_shows_the_real_port) {
  BOOST_TEST(server->listen_line() == "listening on 127.0.0.1:" + std::to_string(server->port()));
  BOOST_TEST(server->port() != 0);
}

BOOST_AUTO_TEST_CASE(metrics_are_prometheus_text_with_route_status_and_latency) {
  auto c = client();
  c->get("/passthrough-referrers?account_id=acme");
  c->get("/nope");
  http_client anon(server->port());
  auto r = anon.get("/metrics");
  BOOST_TEST(r.status == 200u);
  BOOST_TEST(r.header("content-type").find("text/plain") == 0u);
  BOOST_TEST(r.body.find("referrald_http_requests_total{route=\"/passthrough-referrers\","
                         "method=\"GET\",status=\"200\"} 1") != std::string::npos);
  BOOST_TEST(r.body.find("route=\"unmatched\",method=\"any\",status=\"404\"} 1") !=
             std::string::npos);
  BOOST_TEST(r.body.find("referrald_http_request_duration_seconds_bucket{route=") !=
             std::string::npos);
  BOOST_TEST(r.body.find("referrald_events_appended_total") != std::string::npos);
  BOOST_TEST(r.body.find("referrald_account_actors 1") != std::string::npos);
  BOOST_TEST(r.body.find("referrald_ingest_rows_accepted_total") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(unknown_routes_are_404_with_the_error_envelope) {
  auto c = client();
  for (const char* path :
       {"/nope", "/passthrough-referrers/1/extra", "/v2/healthz", "/", "/passthrough-referrers/"}) {
    auto r = c->get(path);
    BOOST_TEST(r.status == 404u, path);
    BOOST_TEST(error_code(r) == "not_found");
  }
}

BOOST_AUTO_TEST_CASE(a_wrong_method_is_405_with_allow) {
  auto c = client();
  auto r = c->request("PUT", "/passthrough-referrers?account_id=acme", "{}");
  BOOST_TEST(r.status == 405u);
  BOOST_TEST(r.header("allow") == "GET, HEAD, POST, OPTIONS");
  BOOST_TEST(error_code(r) == "method_not_allowed");
  auto item = c->request("POST", "/v1/passthrough-referrers/1?account_id=acme", "{}");
  BOOST_TEST(item.status == 405u);
  BOOST_TEST(item.header("allow") == "GET, HEAD, PATCH, DELETE, OPTIONS");
}

BOOST_AUTO_TEST_CASE(every_route_answers_under_v1_too) {
  auto c = client();
  auto created = c->post("/v1/passthrough-referrers?account_id=acme",
                         R"({"domain":"a.example.com","utm_source":"s"})");
  BOOST_TEST(created.status == 201u);
  BOOST_TEST(c->get("/passthrough-referrers/1?account_id=acme").status == 200u);
  BOOST_TEST(c->get("/v1/passthrough-referrers/1?account_id=acme").status == 200u);
  BOOST_TEST(c->get("/v1/api-keys").status == 200u);
}

BOOST_AUTO_TEST_CASE(bodies_must_be_json) {
  auto c = client();
  std::string body = R"({"domain":"a.example.com","utm_source":"s"})";
  auto text = c->request("POST", "/passthrough-referrers?account_id=acme", body,
                         {{"Content-Type", "text/plain"}});
  BOOST_TEST(text.status == 415u);
  BOOST_TEST(error_code(text) == "unsupported_media_type");
  auto latin = c->request("POST", "/passthrough-referrers?account_id=acme", body,
                          {{"Content-Type", "application/json; charset=latin1"}});
  BOOST_TEST(latin.status == 415u);
  auto utf8 = c->request("POST", "/passthrough-referrers?account_id=acme", body,
                         {{"Content-Type", "Application/JSON; charset=UTF-8"}});
  BOOST_TEST(utf8.status == 201u);
}

BOOST_AUTO_TEST_CASE(invalid_json_is_400_with_the_offset) {
  auto c = client();
  auto r = c->post("/passthrough-referrers?account_id=acme", R"({"domain": "a.com",})");
  BOOST_TEST(r.status == 400u);
  BOOST_TEST(error_code(r) == "invalid_json");
  BOOST_TEST(r.json()["error"]["message"].GetString() ==
             std::string("the body is not valid JSON: Missing a name for object member. (at "
                         "byte offset 19)"));
  auto bad_utf8 = c->post("/passthrough-referrers?account_id=acme", "{\"domain\": \"\xC3\"}");
  BOOST_TEST(bad_utf8.status == 400u);
  BOOST_TEST(error_code(bad_utf8) == "invalid_json");
  auto empty = c->request("POST", "/passthrough-referrers?account_id=acme", "",
                          {{"Content-Type", "application/json"}});
  BOOST_TEST(empty.status == 400u);
  BOOST_TEST(error_code(empty) == "invalid_json");
}

BOOST_AUTO_TEST_CASE(a_nul_byte_after_the_body_does_not_hide_trailing_garbage) {
  // The JSON parser read a NUL as the end of its input: a rule and a single resolve whose
  // body had a NUL and garbage after the object were accepted.
  using namespace std::string_literals;
  auto c = client();
  const std::vector<std::pair<std::string, std::string>> bodies = {
      {"/passthrough-referrers?account_id=acme",
       R"({"domain":"nul.example","utm_source":"x"})"s + "\0garbage"s},
      {"/attribution/resolve?account_id=acme",
       R"({"landing_url":"https://h.example/"})"s + "\0garbage"s},
      {"/attribution/resolve-batch?account_id=acme",
       R"({"visits":[{"landing_url":"https://h.example/"}]})"s + "\0"s},
  };
  for (const auto& [path, body] : bodies) {
    BOOST_TEST_CONTEXT(path) {
      auto r = c->post(path, body);
      BOOST_TEST(r.status == 400u);
      BOOST_TEST(error_code(r) == "invalid_json");
      BOOST_TEST(names_field(r, "body"));
    }
  }
  // Nothing was stored.
  auto list = c->get("/passthrough-referrers?account_id=acme&limit=100");
  BOOST_TEST(list.status == 200u);
  BOOST_TEST(list.body.find("nul.example") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(rule_bodies_over_one_mebibyte_are_413) {
  auto c = client();
  std::string big =
      R"({"domain":"a.example.com","utm_source":")" + std::string(1u << 20, 'x') + R"("})";
  auto r = c->post("/passthrough-referrers?account_id=acme", big);
  BOOST_TEST(r.status == 413u);
  BOOST_TEST(error_code(r) == "payload_too_large");
  // The connection was closed after the 413; the client reconnects and goes on.
  BOOST_TEST(c->get("/healthz").status == 200u);
}

BOOST_AUTO_TEST_CASE(a_chunked_body_over_the_limit_is_413) {
  std::string chunk(64 * 1024, 'x');
  std::string req =
      "POST /passthrough-referrers?account_id=acme HTTP/1.1\r\nHost: x\r\n"
      "Authorization: Bearer " +
      std::string(admin_secret) +
      "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  char size[16];
  std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
  for (int i = 0; i < 20; ++i)
    req += std::string(size) + chunk + "\r\n";
  req += "0\r\n\r\n";
  auto out = http_client::raw_exchange(server->port(), req);
  BOOST_TEST(out.rfind("HTTP/1.1 413", 0) == 0u, out.substr(0, 100));
}

BOOST_AUTO_TEST_CASE(expect_100_continue_is_honoured) {
  std::string body = R"({"domain":"a.example.com","utm_source":"s"})";
  std::string req =
      "POST /passthrough-referrers?account_id=acme HTTP/1.1\r\nHost: x\r\n"
      "Authorization: Bearer " +
      std::string(admin_secret) +
      "\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
      "Connection: close\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  auto out = http_client::raw_exchange(server->port(), req);
  BOOST_TEST(out.rfind("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created", 0) == 0u,
             out.substr(0, 120));
}

BOOST_AUTO_TEST_CASE(keep_alive_serves_many_requests_on_one_connection) {
  auto c = client();
  for (int i = 0; i < 50; ++i)
    BOOST_REQUIRE(c->get("/passthrough-referrers?account_id=acme").status == 200u);
  BOOST_TEST(c->connections_opened() == 1);
}

BOOST_AUTO_TEST_CASE(malformed_requests_get_400_and_a_closed_connection) {
  auto out = http_client::raw_exchange(server->port(), "GARBAGE\r\n\r\n");
  BOOST_TEST(out.rfind("HTTP/1.1 400", 0) == 0u, out);
  std::string huge_header =
      "GET /healthz HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n";
  auto big = http_client::raw_exchange(server->port(), huge_header);
  BOOST_TEST(big.rfind("HTTP/1.1 431", 0) == 0u, big.substr(0, 60));
}

BOOST_AUTO_TEST_CASE(boolean_query_parameters_accept_only_documented_values) {
  auto c = client();
  for (const char* v : {"true", "false", "1", "0"}) {
    BOOST_TEST(c->get(std::string("/passthrough-referrers?account_id=acme&include_inactive=") + v)
                   .status == 200u);
  }
  for (const char* v : {"yes", "TRUE", "", "2"}) {
    auto r = c->get(std::string("/passthrough-referrers?account_id=acme&include_inactive=") + v);
    BOOST_TEST(r.status == 400u, v);
    BOOST_TEST(names_field(r, "include_inactive"));
  }
  auto twice = c->get("/passthrough-referrers?account_id=acme&account_id=beta");
  BOOST_TEST(twice.status == 400u);
  BOOST_TEST(names_field(twice, "account_id"));
}

BOOST_AUTO_TEST_CASE(sigterm_stops_cleanly_with_exit_zero) {
  auto c = client();
  BOOST_TEST(c->post("/passthrough-referrers?account_id=acme",
                     R"({"domain":"a.example.com","utm_source":"s"})")
                 .status == 201u);
  int status = server->stop(SIGTERM);
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 0);
  BOOST_TEST(server->stderr_text().find("stopped") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(head_answers_with_headers_only_and_keeps_the_connection_usable) {
  std::string req =
      "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  auto out = http_client::raw_exchange(server->port(), req);
  // The HEAD reply announces the GET body's length but carries no body: the next bytes
  // are the GET reply.
  auto second = out.find("HTTP/1.1 200 OK", 1);
  BOOST_REQUIRE(out.rfind("HTTP/1.1 200 OK", 0) == 0u);
  BOOST_REQUIRE(second != std::string::npos);
  std::string head = out.substr(0, second);
  BOOST_TEST(head.find("Content-Length: 15\r\n") != std::string::npos, head);
  BOOST_TEST(head.substr(head.size() - 4) == "\r\n\r\n");
  BOOST_TEST(out.substr(out.size() - 15) == R"({"status":"ok"})");
}

BOOST_AUTO_TEST_CASE(no_content_has_no_content_length) {
  auto c = client();
  c->post("/passthrough-referrers?account_id=acme",
          R"({"domain":"a.example.com","utm_source":"s"})");
  auto r = c->del("/passthrough-referrers/1?account_id=acme");
  BOOST_TEST(r.status == 204u);
  BOOST_TEST(r.header("content-length").empty());
  BOOST_TEST(c->get("/healthz").status == 200u);  // keep-alive still works
}

BOOST_AUTO_TEST_CASE(bodies_on_get_and_delete_are_ignored_not_refused) {
  auto c = client();
  c->post("/passthrough-referrers?account_id=acme",
          R"({"domain":"a.example.com","utm_source":"s"})");
  BOOST_TEST(c->request("GET", "/passthrough-referrers/1?account_id=acme", "{}").status == 200u);
  BOOST_TEST(c->request("DELETE", "/passthrough-referrers/1?account_id=acme", "{}").status == 204u);
}

BOOST_AUTO_TEST_CASE(an_unauthenticated_upload_is_refused_before_its_body) {
  std::string req =
      "POST /passthrough-referrers?account_id=acme HTTP/1.1\r\nHost: x\r\n"
      "Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 500000\r\n\r\n";
  auto out = http_client::raw_exchange(server->port(), req);
  BOOST_TEST(out.rfind("HTTP/1.1 401", 0) == 0u, out.substr(0, 80));
  BOOST_TEST(out.find("100 Continue") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(authentication_comes_before_query_errors) {
  http_client anon(server->port());
  auto r = anon.get("/passthrough-referrers?account_id=a&account_id=b");
  BOOST_TEST(r.status == 401u);
}

BOOST_AUTO_TEST_CASE(an_oversized_header_is_431) {
  std::string req = "GET /healthz HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n";
  auto out = http_client::raw_exchange(server->port(), req);
  BOOST_TEST(out.rfind("HTTP/1.1 431", 0) == 0u, out.substr(0, 60));
  BOOST_TEST(out.find("\"code\":\"header_too_large\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(idle_account_actors_are_stopped_and_restarted_on_use) {
  server->stop(SIGTERM);
  start({"--account-idle-timeout", "1"});
  auto c = client();
  BOOST_REQUIRE(c->post("/passthrough-referrers?account_id=acme",
                        R"({"domain":"a.example.com","utm_source":"s"})")
                    .status == 201u);
  for (int i = 0; i < 50; ++i)
    c->get("/passthrough-referrers?account_id=probe" + std::to_string(i));
  http_client anon(server->port());
  BOOST_TEST(anon.get("/metrics").body.find("referrald_account_actors 51\n") != std::string::npos);
  std::string metrics;
  eventually(
      [&] {
        metrics = anon.get("/metrics").body;
        return metrics.find("referrald_account_actors 0\n") != std::string::npos;
      },
      std::chrono::seconds(6), std::chrono::milliseconds(100));
  BOOST_TEST(metrics.find("referrald_account_actors 0\n") != std::string::npos);
  // The account comes back with its state.
  auto again = c->post("/passthrough-referrers?account_id=acme",
                       R"({"domain":"b.example.com","utm_source":"s"})");
  BOOST_TEST(again.status == 201u);
  BOOST_TEST(again.json()["data"]["id"].GetInt() == 2);
  BOOST_TEST(c->get("/passthrough-referrers?account_id=acme").json()["data"]["total"].GetInt() ==
             2);
}

BOOST_AUTO_TEST_SUITE_END()
