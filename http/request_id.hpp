#pragma once

// The request id step (http/chain.hpp): every answer carries an X-Request-Id — the
// client's own when it is sane, else one of ours — in its header and, for an error, in its
// body (docs/api-guide.md, "Request ids").

#include <string>
#include <string_view>

#include "http/exchange.hpp"
#include "http/response.hpp"

namespace referrald::http {

// A client's X-Request-Id is kept when it is 1-128 characters of letters, digits and
// "-_.:/+=@"; anything else is replaced by one of ours.
bool sane_request_id(std::string_view id);

// "req_" and 16 hex digits: a process-wide counter mixed with a random seed drawn at start
// (splitmix64), unique within the process and unlikely to repeat across processes.
std::string new_request_id();

// The request's id: the client's (kept by the request id step), or one of ours made now.
const std::string& request_id_of(exchange& ex);

// Marks `r` with `id`: the X-Request-Id header, and `request_id` in an error's body.
void stamp_request_id(response& r, const std::string& id);

}  // namespace referrald::http
