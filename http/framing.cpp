#include "http/framing.hpp"

#include <boost/asio/error.hpp>
#include <boost/beast/http/error.hpp>

#include <cstdio>
#include <ctime>

#include "domain/base/result.hpp"

namespace referrald::http {

namespace bhttp = boost::beast::http;

namespace {

// Server, Date, Content-Type and `r`'s own header fields. A name given twice keeps its last
// value (Retry-After set by the error table and again by the step that refused).
template <class Message>
void set_head(Message& m, const response& r) {
  m.set(bhttp::field::server, "referrald");
  m.set(bhttp::field::date, http_date());
  if (!r.content_type.empty()) m.set(bhttp::field::content_type, r.content_type);
  for (const auto& [name, value] : r.headers)
    m.set(name, value);
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

std::shared_ptr<beast_response> to_beast(response r, const beast_request& req, bool keep) {
  unsigned version = req.version() == 10 ? 10 : 11;
  auto res = std::make_shared<beast_response>(static_cast<bhttp::status>(r.status), version);
  set_head(*res, r);
  res->keep_alive(keep);
  if (r.status == 204 || r.status == 304) {
    // No Content-Length on 204 (RFC 9110 section 8.6), none on 304 either.
  } else if (req.method() == bhttp::verb::head) {
    res->content_length(r.body.size());  // what GET would send, without the body
  } else {
    res->body() = std::move(r.body);
    res->prepare_payload();
  }
  return res;
}

std::shared_ptr<beast_head> to_beast_head(const response& r, const beast_request& req, bool keep) {
  bool chunked = req.version() != 10;
  auto res = std::make_shared<beast_head>(static_cast<bhttp::status>(r.status), chunked ? 11 : 10);
  set_head(*res, r);
  res->keep_alive(chunked && keep);
  if (chunked) res->chunked(true);
  return res;
}

}  // namespace referrald::http
