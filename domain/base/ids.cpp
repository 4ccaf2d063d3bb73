#include "domain/base/ids.hpp"

#include <charconv>

namespace referrald::domain {

bool is_valid_account_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  };
  if (!alnum(id.front())) return false;
  for (char c : id) {
    if (!alnum(c) && c != '_' && c != '-') return false;
  }
  return true;
}

std::optional<std::int64_t> parse_entity_id(std::string_view s) {
  if (s.empty() || s.size() > 19 || s.front() == '0') return std::nullopt;
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || ptr != s.data() + s.size() || v <= 0) return std::nullopt;
  return v;
}

std::optional<std::int64_t> parse_brand_id(std::string_view s) { return parse_entity_id(s); }

}  // namespace referrald::domain
