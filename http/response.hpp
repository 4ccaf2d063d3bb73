#pragma once

// An HTTP response as handlers build it; http/server.cpp turns it into Beast's type.
// Bodies follow the API guide's "Conventions" (docs/api-guide.md): success envelopes carry the
// payload as `data`; error bodies are produced from the one error table (http/error_table.cpp)
// only.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/base/result.hpp"

namespace referrald::http {

struct response {
  unsigned status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  bool close = false;  // close the connection after sending
  // Another node's answer (a forwarded write): sent as it came, with this node's
  // rate-limit headers only.
  bool forwarded = false;
  // A body sent as it is made: the status and header go out at once, without a length
  // (chunked; close-delimited to an HTTP/1.0 client), and the bytes follow through the
  // request's answer stream (request_ctx::stream, http/request.hpp) until its last call.
  // `body` is not sent.
  bool streamed = false;
  // An error answer: its body is written from it as the answer goes out, with the request
  // id (http/request_id.hpp); `body` is empty until then.
  std::optional<domain::error> error;
  // `body` is a success envelope (success_open, the data, success_close): the entity tag
  // is its data's.
  bool enveloped = false;
};

// {"success":true,"data":<data_json>}; 204 has no body at all.
response success(unsigned status, std::string_view data_json);

// For large payloads written straight into one buffer: the envelope's opening (to write
// before the data) and closing (to write after it); the result is a complete body.
inline constexpr std::string_view success_open = "{\"success\":true,\"data\":";
inline constexpr std::string_view success_close = "}";

// The error envelope with the status the error table assigns to `e.code`.
response failure(const domain::error& e);

// A JSON body sent as is (endpoints with their own documented shape).
response raw_json(unsigned status, std::string body);

}  // namespace referrald::http
