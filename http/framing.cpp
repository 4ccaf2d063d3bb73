#include "http/framing.hpp"

#include <boost/asio/error.hpp>
#include <boost/beast/http/error.hpp>

#include <charconv>
#include <cstdio>
#include <ctime>

#include "domain/base/result.hpp"

namespace referrald::http {

namespace bhttp = boost::beast::http;

namespace {

// Whether a field named `name` comes again after `from` in `fields`: the last one is sent.
bool given_again(const std::vector<std::pair<std::string, std::string>>& fields, std::size_t from,
                 std::string_view name) {
  for (std::size_t i = from; i < fields.size(); ++i)
    if (iequals(fields[i].first, name)) return true;
  return false;
}

void put_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ", 2).append(value).append("\r\n", 2);
}

void put_number(std::string& out, std::size_t n) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
  out.append(digits, static_cast<std::size_t>(end - digits));
}

}  // namespace

method to_method(bhttp::verb v) {
  switch (v) {
    case bhttp::verb::get:
      return method::get;
    case bhttp::verb::post:
      return method::post;
    case bhttp::verb::patch:
      return method::patch;
    case bhttp::verb::put:
      return method::put;
    case bhttp::verb::delete_:
      return method::del;
    case bhttp::verb::head:
      return method::head;
    case bhttp::verb::options:
      return method::options;
    default:
      return method::other;
  }
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x >= 'A' && x <= 'Z') x = static_cast<unsigned char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<unsigned char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

const std::string& http_date() {
  static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  thread_local std::time_t cached_at = -1;
  thread_local std::string cached;
  std::time_t now = std::time(nullptr);
  if (now != cached_at) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
                  tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                  tm.tm_sec);
    cached = buf;
    cached_at = now;
  }
  return cached;
}

response too_large(std::size_t limit) {
  return failure(domain::make_error(
      domain::errc::payload_too_large,
      "the request body exceeds this endpoint's limit of " + std::to_string(limit) + " bytes"));
}

read_failure classify_read_error(boost::beast::error_code ec) {
  namespace net = boost::asio;
  if (ec == bhttp::error::body_limit) return read_failure::too_large;
  // Only a chunk header line (with its extensions) or the trailer section can fill the
  // buffer while a body is read.
  if (ec == bhttp::error::buffer_overflow || ec == bhttp::error::header_limit) {
    return read_failure::header_too_large;
  }
  if (ec == bhttp::error::end_of_stream || ec == net::error::operation_aborted ||
      ec == net::error::connection_reset || ec == net::error::eof ||
      ec == bhttp::error::partial_message) {
    return read_failure::gone;
  }
  return read_failure::malformed;
}

head_written write_head(std::string& out, const response& r, const beast_request& req, bool keep) {
  head_written w;
  unsigned version = req.version() == 10 ? 10 : 11;
  // No length on 204 (RFC 9110 section 8.6) or 304; on HEAD, what GET would send.
  bool has_length = !r.streamed && r.status != 204 && r.status != 304;
  w.chunked = r.streamed && version == 11;
  w.keep = r.streamed ? w.chunked && keep : keep;
  w.body = r.streamed || (has_length && req.method() != bhttp::verb::head);
  out.append(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ", 9);
  put_number(out, r.status);
  out += ' ';
  auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(r.status));
  out.append(reason.data(), reason.size()).append("\r\n", 2);
  const auto& own = r.headers;
  if (!given_again(own, 0, "Server")) put_field(out, "Server", "referrald");
  if (!given_again(own, 0, "Date")) put_field(out, "Date", http_date());
  if (!r.content_type.empty() && !given_again(own, 0, "Content-Type"))
    put_field(out, "Content-Type", r.content_type);
  for (std::size_t i = 0; i < own.size(); ++i) {
    if (!given_again(own, i + 1, own[i].first)) put_field(out, own[i].first, own[i].second);
  }
  if (version == 11 && !w.keep) put_field(out, "Connection", "close");
  if (version == 10 && w.keep) put_field(out, "Connection", "keep-alive");
  if (w.chunked) {
    put_field(out, "Transfer-Encoding", "chunked");
  } else if (has_length) {
    out.append("Content-Length: ", 16);
    put_number(out, r.body.size());
    out.append("\r\n", 2);
  }
  out.append("\r\n", 2);
  return w;
}

}  // namespace referrald::http
