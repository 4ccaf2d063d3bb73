#include "tests/support/http_client.hpp"

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <optional>
#include <stdexcept>

#include "tests/support/strict_json.hpp"

namespace referrald::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

struct http_client::impl {
  explicit impl(std::uint16_t p) : port(p) {}
  std::uint16_t port;
  net::io_context ioc;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;

  void connect() {
    stream.emplace(ioc);
    stream->connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    buffer.clear();
  }
};

rapidjson::Document http_reply::json() const {
  auto d = json_if_valid();
  if (!d) {
    auto problem = rfc8259_problem(body);
    BOOST_REQUIRE_MESSAGE(false, "response body is not valid JSON ("
                                     << (problem.empty() ? "RapidJSON cannot parse it" : problem)
                                     << "): " << body);
  }
  return std::move(*d);
}

std::optional<rapidjson::Document> http_reply::json_if_valid() const {
  if (!rfc8259_problem(body).empty()) return std::nullopt;
  rapidjson::Document d;
  d.Parse(body.c_str(), body.size());
  if (d.HasParseError()) return std::nullopt;
  return d;
}

std::string http_reply::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

http_client::http_client(std::uint16_t port, std::string token)
    : impl_(std::make_unique<impl>(port)), token_(std::move(token)) {}

http_client::~http_client() = default;

http_reply http_client::request(std::string_view method, std::string_view target,
                                std::string_view body, const header_list& headers) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!impl_->stream) {
      impl_->connect();
      ++connections_;
    }
    bhttp::request<bhttp::string_body> req;
    req.method_string(beast::string_view(method.data(), method.size()));
    req.target(beast::string_view(target.data(), target.size()));
    req.version(11);
    req.set(bhttp::field::host, "127.0.0.1");
    if (!token_.empty()) req.set(bhttp::field::authorization, "Bearer " + token_);
    bool has_type = false;
    for (std::size_t i = 0; i < headers.size(); ++i) {
      const auto& [n, v] = headers[i];
      // A name the list gives again is sent again (a test of repeated fields); its first
      // occurrence replaces the default.
      bool again = false;
      for (std::size_t j = 0; j < i && !again; ++j)
        again = beast::iequals(headers[j].first, n);
      if (again) {
        req.insert(n, v);
      } else {
        req.set(n, v);
      }
      if (beast::iequals(n, "content-type")) has_type = true;
    }
    if (!body.empty() && !has_type) req.set(bhttp::field::content_type, "application/json");
    req.body() = std::string(body);
    req.prepare_payload();

    beast::error_code ec;
    impl_->stream->expires_after(std::chrono::seconds(30));
    bhttp::write(*impl_->stream, req, ec);
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(256u << 20);
    // The server may answer (413, 401) and stop reading before the whole body is sent:
    // try to read its answer even when the write failed.
    beast::error_code read_ec;
    bhttp::read(*impl_->stream, impl_->buffer, parser, read_ec);
    if (!read_ec)
      ec = {};
    else if (!ec)
      ec = read_ec;
    if (ec) {
      // The server closed an idle keep-alive connection: reconnect once.
      impl_->stream.reset();
      if (attempt == 0 && (ec == bhttp::error::end_of_stream || ec == net::error::eof ||
                           ec == net::error::connection_reset || ec == net::error::broken_pipe)) {
        continue;
      }
      throw std::runtime_error("HTTP " + std::string(method) + " " + std::string(target) +
                               " failed: " + ec.message());
    }
    auto res = parser.release();
    http_reply out;
    out.status = res.result_int();
    for (const auto& f : res) {
      std::string name(f.name_string());
      for (auto& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.headers[name] = std::string(f.value());
    }
    out.body = std::move(res.body());
    if (!res.keep_alive()) impl_->stream.reset();
    if (reply_observer()) {
      std::string type(req[bhttp::field::content_type]);
      reply_observer()({method, target, body, type}, out);
    }
    return out;
  }
  return {};
}

std::string http_client::raw_exchange(std::uint16_t port, std::string_view bytes, int timeout_ms) {
  net::io_context ioc;
  beast::tcp_stream s(ioc);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  s.expires_after(std::chrono::milliseconds(timeout_ms));
  beast::error_code ec;
  net::write(s, net::buffer(bytes.data(), bytes.size()), ec);
  std::string out;
  char buf[4096];
  for (;;) {
    std::size_t n = s.read_some(net::buffer(buf), ec);
    out.append(buf, n);
    if (ec) break;
  }
  return out;
}

std::string basic_authorization(std::string_view in) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out = "Basic ";
  for (std::size_t i = 0; i < in.size(); i += 3) {
    std::size_t n = std::min<std::size_t>(3, in.size() - i);
    unsigned v = 0;
    for (std::size_t k = 0; k < 3; ++k)
      v = v << 8 | (k < n ? static_cast<unsigned char>(in[i + k]) : 0u);
    for (std::size_t k = 0; k < 4; ++k)
      out += k <= n ? alphabet[(v >> (18 - 6 * k)) & 63] : '=';
  }
  return out;
}

}  // namespace referrald::testing
