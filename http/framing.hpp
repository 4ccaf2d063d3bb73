#pragma once

// Framing, the first and the last of a request (http/chain.hpp): what the session
// does with bytes besides reading a head (http/request_head.hpp) — a body over its route's
// limit, a read that failed, and the head of the answer as it is written. Pure functions; the
// session does the I/O.

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>

#include <cstddef>
#include <string>
#include <string_view>

#include "http/request.hpp"
#include "http/response.hpp"

namespace referrald::http {

using beast_request = boost::beast::http::request<boost::beast::http::string_body>;
using beast_response = boost::beast::http::response<boost::beast::http::string_body>;

method to_method(boost::beast::http::verb v);

// ASCII case-insensitive equality (header names, schemes).
bool iequals(std::string_view a, std::string_view b);

// The Date header value (RFC 9110 section 5.6.7, IMF-fixdate), formatted once a second
// per thread.
const std::string& http_date();

// 413 for a body over `limit` bytes.
response too_large(std::size_t limit);

// What a failed read of a request's body means.
enum class read_failure {
  too_large,         // over the route's body limit: 413
  header_too_large,  // a chunk header or trailer section filled the buffer: 431
  gone,              // the client closed or reset the connection: no answer
  malformed,         // anything Beast cannot parse: 400, and the connection closed
};
read_failure classify_read_error(boost::beast::error_code ec);

// How the body follows a head written by write_head.
struct head_written {
  bool body = false;     // the body follows (not for 204, 304 or HEAD)
  bool chunked = false;  // as chunks (a streamed answer to HTTP/1.1)
  bool keep = false;     // the connection stays open after the answer
};

// The status line and header of `r` as the answer to `req`, appended to `out`: Server, Date,
// Content-Type, `r`'s own fields (a name given twice keeps its last value), Connection where
// the version's default is not what `keep` asks, and the body's framing. A whole answer
// carries its length (none on 204 and 304; on HEAD, what GET would send, without the body).
// A streamed one (response::streamed) is chunked to HTTP/1.1 and close-delimited to HTTP/1.0,
// whose connection then ends with the body.
head_written write_head(std::string& out, const response& r, const beast_request& req, bool keep);

}  // namespace referrald::http
