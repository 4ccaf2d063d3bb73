#pragma once

// A fresh server on a fresh data directory per test, with helpers to make keys.

#include <signal.h>
#include <sys/wait.h>

#include <cstdio>

#include <boost/test/unit_test.hpp>
#include <memory>
#include <string>

#include "tests/support/command.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/temp_dir.hpp"

namespace referrald::testing {

struct server_fixture {
  temp_dir dir;
  std::unique_ptr<server_process> server;

  server_fixture() { start(); }

  void start(std::vector<std::string> args = {}) {
    server = std::make_unique<server_process>(
        server_process::options{dir.sub("data"), std::move(args), {}, true});
  }

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
