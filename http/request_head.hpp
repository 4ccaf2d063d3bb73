#pragma once

// Reading a request's head (request line and header fields) the strict way: what a
// session does with the bytes up to and including the blank line, before routing. Shared
// by http/server.cpp and the request-parser fuzz target.
//
//   - a line that ends with a bare LF is refused at once (RFC 9112 section 2.2 lets a
//     recipient choose; an answer now is better than a wait for a CRLF that never comes);
//   - obsolete line folding is refused (RFC 9112 section 5.2);
//   - Beast parses the head (header limit, Content-Length syntax, conflicting
//     Content-Length and Transfer-Encoding);
//   - HTTP/1.1 needs exactly one Host, HTTP/1.0 at most one (section 3.2);
//   - the only transfer coding is `chunked` alone (section 6.1): anything else is 501, so
//     that a body whose length cannot be read is never taken for the next request.
//
// Pure functions over the parser they are given; no I/O.

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "domain/base/result.hpp"

namespace referrald::http {

using request_parser = boost::beast::http::request_parser<boost::beast::http::string_body>;

inline constexpr std::size_t k_header_limit = 16 * 1024;

// Feeds `head` (exactly the bytes up to and including the blank line) to `parser`, which
// must be fresh with its header limit set. An error (bad_request, header_too_large,
// not_implemented) when the request must be refused and its connection closed.
std::optional<domain::error> read_request_head(request_parser& parser, std::string_view head);

// The position of the first LF in `bytes` at or after `from` that no CR precedes, or npos.
std::size_t find_bare_lf(std::string_view bytes, std::size_t from);
// The answer to a head with such a line (bad_request).
domain::error bare_lf_error();

// The error for a Beast parse error.
domain::error framing_error(boost::beast::error_code ec);

// The request target in origin form: an absolute-form target ("http://host:port/p?q",
// RFC 9112 section 3.2.2) loses its scheme and authority.
std::string origin_form(std::string_view target);

}  // namespace referrald::http
