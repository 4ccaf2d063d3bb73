#pragma once

// A small synchronous HTTP/1.1 client for referralctl's commands that go through a running
// server's API (import, export), so that authentication and validation are the server's.

#include <string>
#include <string_view>

namespace referrald::tools {

struct api_answer {
  unsigned status = 0;  // 0: no answer (the error says why)
  std::string body;
  std::string content_type;
  std::string error;
};

// Sends one request to `server` ("http://HOST:PORT", no path) with "Authorization: Bearer
// <key>"; a non-empty body goes with `content_type`.
api_answer call_api(const std::string& server, const std::string& key, std::string_view method,
                    const std::string& target, const std::string& body = {},
                    const std::string& content_type = "application/json");

}  // namespace referrald::tools
