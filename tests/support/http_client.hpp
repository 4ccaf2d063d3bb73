#pragma once

// A blocking HTTP/1.1 client for end-to-end tests: one keep-alive connection to
// 127.0.0.1:PORT, reconnecting when the server closed it.

#include <rapidjson/document.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace referrald::testing {

struct http_reply {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;

  // The body parsed as JSON (fails the test when it is not).
  rapidjson::Document json() const;
  // The body parsed as JSON, or nothing when it is not. It checks nothing, so any thread
  // may call it (json()'s checks belong to the test's own thread).
  std::optional<rapidjson::Document> json_if_valid() const;
  std::string header(const std::string& lowercase_name) const;
};

using header_list = std::vector<std::pair<std::string, std::string>>;

// "Basic " and the base64 of `user_password` (RFC 7617): an Authorization header's value.
std::string basic_authorization(std::string_view user_password);

class http_client {
 public:
  explicit http_client(std::uint16_t port, std::string token = {});
  ~http_client();
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  // `token` (if set) is sent as "Authorization: Bearer <token>"; a non-empty body is sent
  // as application/json unless `headers` set Content-Type. A header of `headers` replaces
  // these; a name `headers` gives twice is sent twice. Throws std::runtime_error when
  // the exchange fails at the transport level (connection refused or reset).
  http_reply request(std::string_view method, std::string_view target, std::string_view body = {},
                     const header_list& headers = {});

  http_reply get(std::string_view target) { return request("GET", target); }
  http_reply post(std::string_view target, std::string_view body) {
    return request("POST", target, body);
  }
  http_reply patch(std::string_view target, std::string_view body) {
    return request("PATCH", target, body);
  }
  http_reply del(std::string_view target) { return request("DELETE", target); }

  void set_token(std::string token) { token_ = std::move(token); }

  // Called with every answer `request` returns (a suite checks each against the API
  // contract: tests/support/contract.hpp). Set once, before any test runs.
  struct sent {
    std::string_view method, target, body, content_type;
  };
  using observer = std::function<void(const sent& request, const http_reply& reply)>;
  static observer& reply_observer() {
    static observer o;
    return o;
  }
  // Number of TCP connections opened so far (keep-alive checks).
  int connections_opened() const { return connections_; }

  // Sends raw bytes on a fresh connection and returns everything read until the server
  // closes it or `timeout_ms` passes.
  static std::string raw_exchange(std::uint16_t port, std::string_view bytes,
                                  int timeout_ms = 3000);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::string token_;
  int connections_ = 0;
};

}  // namespace referrald::testing
