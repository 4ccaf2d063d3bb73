#include "http/query.hpp"

#include "domain/text.hpp"

namespace referrald::http {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

domain::result<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      bool room = i + 2 < s.size();
      int hi = room ? hex_value(s[i + 1]) : -1;
      int lo = room ? hex_value(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return domain::make_error(domain::errc::validation_failed,
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
  if (!domain::is_valid_utf8(out)) {
    return domain::make_error(domain::errc::validation_failed,
                              "'" + std::string(s) + "' does not decode to valid UTF-8");
  }
  return out;
}

domain::result<query_params> query_params::parse(std::string_view raw) {
  query_params q;
  while (!raw.empty()) {
    std::size_t amp = raw.find('&');
    std::string_view part = raw.substr(0, amp);
    raw = amp == std::string_view::npos ? std::string_view() : raw.substr(amp + 1);
    if (part.empty()) continue;
    std::size_t eq = part.find('=');
    auto name = percent_decode(part.substr(0, eq), true);
    if (!name) return domain::field_invalid("query", name.err().message);
    auto value = percent_decode(eq == std::string_view::npos ? "" : part.substr(eq + 1), true);
    if (!value) return domain::field_invalid(*name, value.err().message);
    if (q.get(*name) != nullptr) return domain::field_invalid(*name, "is given more than once");
    q.items_.emplace_back(std::move(*name), std::move(*value));
  }
  return q;
}

const std::string* query_params::get(std::string_view name) const {
  for (const auto& [k, v] : items_) {
    if (k == name) return &v;
  }
  return nullptr;
}

domain::result<bool> bool_param(const query_params& q, std::string_view name, bool fallback) {
  const std::string* v = q.get(name);
  if (v == nullptr) return fallback;
  if (*v == "true" || *v == "1") return true;
  if (*v == "false" || *v == "0") return false;
  return domain::field_invalid(std::string(name), "must be one of true, false, 1, 0");
}

}  // namespace referrald::http
