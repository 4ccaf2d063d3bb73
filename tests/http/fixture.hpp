#pragma once

// A fresh server on a fresh data directory per test, with helpers to make keys: the real
// build/referrald (server_fixture), or the same server in this process with a clock the test
// moves (in_process_fixture).

#include <signal.h>
#include <sys/wait.h>

#include <cstdio>

#include <boost/test/unit_test.hpp>
#include <memory>
#include <string>

#include "domain/base/clock.hpp"
#include "tests/support/command.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/in_process_server.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/temp_dir.hpp"

namespace referrald::testing {

// What both fixtures give a test: clients of the server, and keys made through its API.
template <class Server>
struct served_by {
  temp_dir dir;
  std::unique_ptr<Server> server;

  std::unique_ptr<http_client> client(const std::string& token = admin_secret) {
    return std::make_unique<http_client>(server->port(), token);
  }

  // Creates a key through the API and returns its secret.
  std::string make_key(const std::string& role, const std::string& accounts = R"(["*"])",
                       const std::string& brands = R"(["*"])") {
    auto admin = client();
    auto r = admin->post("/api-keys", R"({"name":"test )" + role + R"(","role":")" + role +
                                          R"(","accounts":)" + accounts + R"(,"brands":)" + brands +
                                          "}");
    BOOST_REQUIRE_MESSAGE(r.status == 201, r.body);
    return r.json()["data"]["secret"].GetString();
  }
};

struct server_fixture : served_by<server_process> {
  server_fixture() { start(); }

  // A new server on the same data directory, started once the one before has stopped.
  void start(std::vector<std::string> args = {}) {
    server.reset();
    server = std::make_unique<server_process>(
        server_process::options{dir.sub("data"), std::move(args), {}, true});
  }
};

struct in_process_fixture : served_by<in_process_server> {
  test_clock clock{domain::now_ms()};

  in_process_fixture() { start(); }

  // A new server on the same store and clock, made with `fn`.
  void start(const in_process_server::configure& fn = {}) {
    server.reset();
    server = std::make_unique<in_process_server>(dir.sub("data"), clock, fn);
  }

  // The clock's time `ms` from now, in RFC 3339.
  std::string in_ms(std::int64_t ms) const { return domain::format_rfc3339(clock.now_ms() + ms); }
};

// The `code` of an error envelope.
inline std::string error_code(const http_reply& r) {
  auto d = r.json();
  BOOST_REQUIRE(d.IsObject() && d.HasMember("success") && !d["success"].GetBool());
  return d["error"]["code"].GetString();
}

// True when the error's details name `field`.
inline bool names_field(const http_reply& r, const std::string& field) {
  auto d = r.json();
  if (!d.IsObject() || !d.HasMember("error")) return false;
  for (const auto& det : d["error"]["details"].GetArray()) {
    if (det["field"].GetString() == field) return true;
  }
  return false;
}

}  // namespace referrald::testing
