#include "http/query.hpp"

#include "domain/base/clock.hpp"

#include "domain/web/url.hpp"
#include "http/exchange.hpp"
#include "http/steps.hpp"

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

domain::result<std::uint64_t> uint_param(const query_params& q, std::string_view name,
                                         std::uint64_t fallback, std::uint64_t min,
                                         std::uint64_t max) {
  const std::string* v = q.get(name);
  if (v == nullptr) return fallback;
  auto bad = [&] {
    return domain::field_invalid(
        std::string(name),
        "must be a whole number from " + std::to_string(min) + " to " + std::to_string(max));
  };
  if (v->empty() || v->size() > 20) return bad();
  std::uint64_t n = 0;
  for (char ch : *v) {
    if (ch < '0' || ch > '9') return bad();
    auto digit = static_cast<std::uint64_t>(ch - '0');
    if (n > (UINT64_MAX - digit) / 10) return bad();
    n = n * 10 + digit;
  }
  if (n < min || n > max) return bad();
  return n;
}

domain::result<std::optional<std::int64_t>> time_param(const query_params& q,
                                                       std::string_view name) {
  const std::string* v = q.get(name);
  if (v == nullptr) return std::optional<std::int64_t>{};
  auto t = domain::parse_rfc3339(*v);
  if (!t) {
    return domain::field_invalid(std::string(name),
                                 "must be an RFC 3339 date-time such as 2026-11-22T10:00:00Z");
  }
  return std::optional<std::int64_t>{*t};
}

namespace {

// The path parameters decoded and the query parameters the route reads; a path segment that
// does not decode, a query that does not, or a parameter the route does not read is a 400
// (404 for the path).
class query_step final : public step {
 public:
  std::string_view name() const override { return "query"; }
  verdict request(const flow& f) override {
    exchange& ex = f.ex();
    const route& r = *ex.match.entry;
    if (!ex.match.error.empty()) {
      return verdict::reply(
          failure(domain::make_error(domain::errc::route_not_found, ex.match.error)));
    }
    ex.ctx.params = std::move(ex.match.params);
    std::string_view target = ex.target;
    auto mark = target.find('?');
    auto query = query_params::parse(
        mark == std::string_view::npos || r.static_file ? "" : target.substr(mark + 1));
    if (!query) return verdict::reply(failure(query.err()));
    ex.ctx.query = std::move(*query);
    if (auto unknown = unknown_query(r, ex.ctx.query)) return verdict::reply(std::move(*unknown));
    return verdict::next();
  }
};

}  // namespace

std::unique_ptr<step> make_query_step() { return std::make_unique<query_step>(); }

}  // namespace referrald::http
