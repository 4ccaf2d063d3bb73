#include "http/request_head.hpp"

#include <boost/asio/buffer.hpp>
#include <cctype>
#include <vector>

#include "domain/base/text.hpp"

namespace referrald::http {

namespace bhttp = boost::beast::http;

namespace {

std::string_view sv(boost::beast::string_view s) { return {s.data(), s.size()}; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::optional<domain::error> check_framing(const request_parser& parser) {
  const auto& req = parser.get();
  if (req.version() != 11 && req.version() != 10) {
    return domain::make_error(domain::errc::bad_request,
                              "only HTTP/1.1 and HTTP/1.0 are supported");
  }
  // Fields a request has at most once: which of two would count is not for the server to
  // guess (two Authorization headers: the first won, silently). One pass over the fields.
  static constexpr std::string_view once[] = {"Host", "Authorization", "Content-Type", "Origin",
                                              "Idempotency-Key"};
  unsigned seen[std::size(once)] = {};
  for (const auto& f : req) {
    std::size_t which = std::size(once);
    switch (f.name()) {
      case bhttp::field::host:
        which = 0;
        break;
      case bhttp::field::authorization:
        which = 1;
        break;
      case bhttp::field::content_type:
        which = 2;
        break;
      case bhttp::field::origin:
        which = 3;
        break;
      case bhttp::field::unknown:
        if (iequals(sv(f.name_string()), once[4])) which = 4;
        break;
      default:
        break;
    }
    if (which == std::size(once)) continue;
    if (++seen[which] > 1) {
      return domain::make_error(
          domain::errc::bad_request,
          "malformed HTTP request: " + std::string(once[which]) + " is given more than once");
    }
  }
  if (req.version() == 11 && seen[0] == 0) {
    return domain::make_error(domain::errc::bad_request,
                              "malformed HTTP request: HTTP/1.1 needs a Host header");
  }
  auto codings = req.equal_range(bhttp::field::transfer_encoding);
  if (codings.first == codings.second) return std::nullopt;
  if (req.version() == 10) {
    return domain::make_error(domain::errc::bad_request,
                              "malformed HTTP request: HTTP/1.0 cannot use Transfer-Encoding");
  }
  std::vector<std::string> tokens;
  for (auto it = codings.first; it != codings.second; ++it) {
    std::string_view list = sv(it->value());
    while (!list.empty()) {
      auto comma = list.find(',');
      std::string_view token = domain::trim(list.substr(0, comma));
      list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
      if (!token.empty()) tokens.emplace_back(token);
    }
  }
  if (tokens.size() == 1 && iequals(tokens.front(), "chunked")) return std::nullopt;
  std::string all;
  for (const auto& t : tokens)
    all += (all.empty() ? "" : ", ") + t;
  return domain::make_error(domain::errc::not_implemented,
                            "Transfer-Encoding '" + all +
                                "' is not supported: send the body with Content-Length or "
                                "Transfer-Encoding: chunked alone");
}

}  // namespace

domain::error framing_error(boost::beast::error_code ec) {
  if (ec == bhttp::error::header_limit) {
    return domain::make_error(domain::errc::header_too_large,
                              "the request header is larger than 16 KiB");
  }
  if (ec == bhttp::error::bad_transfer_encoding || ec == bhttp::error::bad_content_length ||
      ec == bhttp::error::multiple_content_length) {
    return domain::make_error(domain::errc::bad_request,
                              "malformed HTTP request: Content-Length and Transfer-Encoding "
                              "conflict, or either is invalid or repeated (" +
                                  ec.message() + ")");
  }
  return domain::make_error(domain::errc::bad_request, "malformed HTTP request: " + ec.message());
}

std::size_t find_bare_lf(std::string_view bytes, std::size_t from) {
  for (std::size_t at = bytes.find('\n', from); at != std::string_view::npos;
       at = bytes.find('\n', at + 1)) {
    if (at == 0 || bytes[at - 1] != '\r') return at;
  }
  return std::string_view::npos;
}

domain::error bare_lf_error() {
  return domain::make_error(domain::errc::bad_request,
                            "malformed HTTP request: a line of the header ends with a bare LF; "
                            "each line must end with CRLF (RFC 9112 section 2.2)");
}

std::optional<domain::error> read_request_head(request_parser& parser, std::string_view head) {
  if (find_bare_lf(head, 0) != std::string_view::npos) return bare_lf_error();
  // Obsolete line folding (a field line continued on the next line): refused, as RFC 9112
  // section 5.2 allows, since different parsers would read it differently.
  for (std::size_t at = head.find("\r\n"); at != std::string_view::npos && at + 2 < head.size();
       at = head.find("\r\n", at + 2)) {
    char next = head[at + 2];
    if (next == ' ' || next == '\t') {
      return domain::make_error(domain::errc::bad_request,
                                "malformed HTTP request: a header line starts with a space or "
                                "tab (obsolete line folding is not accepted)");
    }
  }
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(head.data(), head.size()), ec);
  if (!ec && !parser.is_header_done()) ec = bhttp::error::partial_message;
  if (ec) return framing_error(ec);
  return check_framing(parser);
}

std::string origin_form(std::string_view target) {
  std::size_t colon = target.find("://");
  if (colon == std::string_view::npos || target.empty() || target.front() == '/') {
    return std::string(target);
  }
  std::string_view scheme = target.substr(0, colon);
  if (!iequals(scheme, "http") && !iequals(scheme, "https")) return std::string(target);
  std::string_view rest = target.substr(colon + 3);
  std::size_t path = rest.find_first_of("/?");
  if (path == std::string_view::npos) return "/";
  if (rest[path] == '?') return "/" + std::string(rest.substr(path));
  return std::string(rest.substr(path));
}

}  // namespace referrald::http
