#include "http/query.hpp"

#include "domain/url.hpp"

namespace referrald::http {

domain::result<query_params> query_params::parse(std::string_view raw) {
  query_params q;
  while (!raw.empty()) {
    std::size_t amp = raw.find('&');
    std::string_view part = raw.substr(0, amp);
    raw = amp == std::string_view::npos ? std::string_view() : raw.substr(amp + 1);
    if (part.empty()) continue;
    std::size_t eq = part.find('=');
    auto name = domain::percent_decode(part.substr(0, eq), true);
    if (!name) return domain::field_invalid("query", name.err().message);
    auto value =
        domain::percent_decode(eq == std::string_view::npos ? "" : part.substr(eq + 1), true);
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
