#include "tools/api_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <exception>

namespace referrald::tools {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

api_answer call_api(const std::string& server, const std::string& key, std::string_view method,
                    const std::string& target, const std::string& body,
                    const std::string& content_type) {
  api_answer out;
  std::string_view rest = server;
  if (!rest.starts_with("http://")) {
    out.error = "the server must be given as http://HOST:PORT, not '" + server + "'";
    return out;
  }
  rest.remove_prefix(7);
  while (rest.ends_with("/"))
    rest.remove_suffix(1);
  std::string host(rest), port = "80";
  if (auto colon = rest.rfind(':'); colon != std::string_view::npos && rest.back() != ']') {
    host = std::string(rest.substr(0, colon));
    port = std::string(rest.substr(colon + 1));
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  try {
    boost::asio::io_context io;
    tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::minutes(5));
    stream.connect(resolver.resolve(host, port));
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, std::string(rest));
    req.set(http::field::authorization, "Bearer " + key);
    req.set(http::field::user_agent, "referralctl");
    if (!body.empty()) {
      req.set(http::field::content_type, content_type);
      req.body() = body;
    }
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::uint64_t{1} << 32);
    http::read(stream, buffer, parser);
    auto res = parser.release();
    out.status = res.result_int();
    out.body = std::move(res.body());
    out.content_type = std::string(res[http::field::content_type]);
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  } catch (const std::exception& e) {
    out.status = 0;
    out.error = "no answer from " + server + ": " + e.what();
  }
  return out;
}

}  // namespace referrald::tools
