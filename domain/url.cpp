#include "domain/url.hpp"

#include "domain/text.hpp"

namespace referrald::domain {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_scheme_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '.' || c == '-';
}

}  // namespace

url_parts split_url(std::string_view s) {
  url_parts u;
  if (auto hash = s.find('#'); hash != std::string_view::npos) {
    u.fragment = s.substr(hash + 1);
    s = s.substr(0, hash);
  }
  if (auto q = s.find('?'); q != std::string_view::npos) {
    u.query = s.substr(q + 1);
    s = s.substr(0, q);
  }
  // scheme "://"
  std::size_t i = 0;
  if (!s.empty() && std::isalpha(static_cast<unsigned char>(s[0]))) {
    while (i < s.size() && is_scheme_char(s[i]))
      ++i;
    if (s.substr(i, 3) == "://") {
      u.scheme = s.substr(0, i);
      s.remove_prefix(i + 3);
    }
  }
  if (u.scheme.empty() && s.starts_with("//")) s.remove_prefix(2);
  auto slash = s.find('/');
  u.authority = s.substr(0, slash);
  if (slash != std::string_view::npos) u.path = s.substr(slash);
  return u;
}

result<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      bool room = i + 2 < s.size();
      int hi = room ? hex_value(s[i + 1]) : -1;
      int lo = room ? hex_value(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return make_error(errc::validation_failed,
                          "malformed percent-escape in '" + std::string(s) + "'");
      }
      out.push_back(static_cast<char>(hi << 4 | lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  if (!is_valid_utf8(out)) {
    return make_error(errc::validation_failed,
                      "'" + std::string(s) + "' does not decode to valid UTF-8");
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> query_pairs(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    std::size_t eq = part.find('=');
    auto name = percent_decode(part.substr(0, eq), true);
    auto value = percent_decode(eq == std::string_view::npos ? "" : part.substr(eq + 1), true);
    if (!name || !value) continue;
    out.emplace_back(std::move(*name), std::move(*value));
  }
  return out;
}

}  // namespace referrald::domain
