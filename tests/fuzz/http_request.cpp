// Fuzz target: the request parser path of an HTTP session: the head read as the session
// reads it (blank line within the header limit, read_request_head), the target in origin
// form, routing, the query string, and the body decoded by Beast (Content-Length or
// chunked, with chunk extensions and trailers) under a body limit.

#include <cstdint>
#include <string>

#include "http/handlers.hpp"
#include "http/query.hpp"
#include "http/request_head.hpp"

using namespace referrald;

namespace {

const http::router& routes() {
  static const http::router r = http::make_router(http::limits{});
  return r;
}

http::method to_method(boost::beast::http::verb v) {
  using boost::beast::http::verb;
  switch (v) {
    case verb::get:
      return http::method::get;
    case verb::post:
      return http::method::post;
    case verb::patch:
      return http::method::patch;
    case verb::delete_:
      return http::method::del;
    case verb::head:
      return http::method::head;
    default:
      return http::method::other;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto end = in.find("\r\n\r\n");
  if (end == std::string_view::npos || end + 4 > http::k_header_limit) return 0;
  http::request_parser parser;
  parser.header_limit(http::k_header_limit);
  parser.body_limit(1u << 20);
  if (http::read_request_head(parser, in.substr(0, end + 4))) return 0;
  std::string target = http::origin_form(
      std::string_view(parser.get().target().data(), parser.get().target().size()));
  std::string_view t = target;
  auto q = t.find('?');
  (void)routes().find(to_method(parser.get().method()), t.substr(0, q));
  if (q != std::string_view::npos) (void)http::query_params::parse(t.substr(q + 1));
  // The body, fed in pieces as a socket would deliver it, through a buffer that never
  // holds more than the header limit.
  parser.eager(true);
  std::string_view body = in.substr(end + 4);
  std::string pending;
  while (!parser.is_done()) {
    std::size_t take = std::min<std::size_t>(body.size(), 97);
    pending.append(body.substr(0, take));
    body.remove_prefix(take);
    boost::beast::error_code ec;
    std::size_t used = parser.put(boost::asio::buffer(pending.data(), pending.size()), ec);
    pending.erase(0, used);
    if (ec && ec != boost::beast::http::error::need_more) break;
    if (pending.size() >= http::k_header_limit) break;  // the session answers 431 here
    if (take == 0) break;  // the input ended before the body: the session would wait
  }
  return 0;
}
