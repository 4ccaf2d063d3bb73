#include "http/forwarding.hpp"

#include <charconv>

#include "http/framing.hpp"

namespace referrald::http {

namespace bhttp = boost::beast::http;

std::string encode_forwarded_request(const exchange& ex, const std::string& request_id) {
  auto& req = ex.head();
  std::string out;
  out.reserve(512 + req.body().size());
  out.append(req.method_string().data(), req.method_string().size());
  out += ' ';
  out += ex.target;
  out += " HTTP/1.1\r\n";
  for (const auto& f : req) {
    switch (f.name()) {
      case bhttp::field::connection:
      case bhttp::field::keep_alive:
      case bhttp::field::transfer_encoding:
      case bhttp::field::te:
      case bhttp::field::expect:
      case bhttp::field::upgrade:
      case bhttp::field::content_length:
      case bhttp::field::proxy_connection:
        continue;
      default:
        break;
    }
    std::string_view name(f.name_string().data(), f.name_string().size());
    if (iequals(name, "X-Request-Id")) continue;
    out += name;
    out += ": ";
    out.append(f.value().data(), f.value().size());
    out += "\r\n";
  }
  out += "X-Request-Id: " + request_id + "\r\n";
  out += "Content-Length: " + std::to_string(req.body().size()) + "\r\n\r\n";
  out += req.body();
  return out;
}

std::string encode_forwarded_answer(const response& r) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " \r\n";
  if (!r.content_type.empty()) out += "Content-Type: " + r.content_type + "\r\n";
  for (const auto& [name, value] : r.headers)
    out += name + ": " + value + "\r\n";
  out += "\r\n";
  out += r.body;
  return out;
}

std::optional<response> decode_forwarded_answer(std::string_view bytes) {
  response r;
  r.forwarded = true;
  r.content_type.clear();
  auto eol = bytes.find("\r\n");
  if (eol == std::string_view::npos || eol < 12 || !bytes.starts_with("HTTP/1.1 ")) {
    return std::nullopt;
  }
  unsigned status = 0;
  auto [end, ec] = std::from_chars(bytes.data() + 9, bytes.data() + 12, status);
  if (ec != std::errc() || end != bytes.data() + 12 || status < 100 || status > 599) {
    return std::nullopt;
  }
  r.status = status;
  std::size_t at = eol + 2;
  for (;;) {
    auto next = bytes.find("\r\n", at);
    if (next == std::string_view::npos) return std::nullopt;
    if (next == at) {
      at += 2;
      break;
    }
    std::string_view line = bytes.substr(at, next - at);
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    std::string_view name = line.substr(0, colon), value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ')
      value.remove_prefix(1);
    if (iequals(name, "Content-Type")) {
      r.content_type = value;
    } else {
      r.headers.emplace_back(std::string(name), std::string(value));
    }
    at = next + 2;
  }
  r.body = bytes.substr(at);
  return r;
}

}  // namespace referrald::http
