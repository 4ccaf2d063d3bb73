#include "http/router.hpp"

#include <algorithm>

#include "domain/base/text.hpp"

namespace referrald::http {

namespace {

std::vector<std::string_view> split(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path.front() != '/') return out;
  path.remove_prefix(1);
  for (;;) {
    std::size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool is_param(std::string_view seg) {
  return seg.size() >= 2 && seg.front() == '{' && seg.back() == '}';
}

}  // namespace

std::string_view to_string(method m) {
  switch (m) {
    case method::get:
      return "GET";
    case method::post:
      return "POST";
    case method::patch:
      return "PATCH";
    case method::put:
      return "PUT";
    case method::del:
      return "DELETE";
    case method::head:
      return "HEAD";
    case method::options:
      return "OPTIONS";
    case method::other:
      return "OTHER";
  }
  return "OTHER";
}

void router::add(std::string pattern, method verb, handler fn, const route_spec& spec) {
  route r;
  r.pattern = std::move(pattern);
  for (auto seg : split(r.pattern))
    r.segments.emplace_back(seg);
  r.verb = verb;
  r.fn = fn;
  r.access = spec.access;
  r.body_limit = spec.body_limit;
  for (std::string_view q = spec.query; !q.empty();) {
    auto space = q.find(' ');
    if (space != 0) r.query.emplace_back(q.substr(0, space));
    q = space == std::string_view::npos ? std::string_view() : q.substr(space + 1);
  }
  r.etag = spec.etag;
  r.idempotent = spec.idempotent;
  r.publishable = spec.publishable;
  r.static_file = spec.static_file;
  r.any_page = spec.any_page;
  r.streams = spec.streams;
  // Writes with the write role change one account's rules (named by account_id) or one
  // brand's AI data (the path's first segment); API keys and snapshots take the admin role.
  bool writes = verb != method::get && verb != method::head && verb != method::options &&
                spec.access == domain::access::write;
  if (writes && std::find(r.query.begin(), r.query.end(), "account_id") != r.query.end()) {
    r.owner = owner_scope::account;
  } else if (writes && r.pattern.starts_with("/{brand_id}/")) {
    r.owner = owner_scope::brand;
  }
  r.index = routes_.size();
  routes_.push_back(std::move(r));
}

router::match router::find(method verb, std::string_view path) const {
  match m;
  if (path == "/v1" || path.starts_with("/v1/")) path.remove_prefix(3);
  auto segs = split(path);
  if (segs.empty()) return m;
  for (const auto& r : routes_) {
    const auto& pat = r.segments;
    if (pat.size() != segs.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < pat.size() && same; ++i) {
      same = is_param(pat[i]) ? !segs[i].empty() : pat[i] == segs[i];
    }
    if (!same) continue;
    // HEAD is served by the GET handler (headers only).
    bool same_verb = r.verb == verb || (verb == method::head && r.verb == method::get);
    if (!same_verb) {
      if (!m.allow.empty()) m.allow += ", ";
      m.allow += to_string(r.verb);
      if (r.verb == method::get) m.allow += ", HEAD";
      m.kind = match::method_not_allowed;
      if (m.same_path == nullptr) m.same_path = &r;
      continue;
    }
    m.kind = match::found;
    m.entry = &r;
    m.allow.clear();
    m.same_path = nullptr;
    for (std::size_t i = 0; i < pat.size(); ++i) {
      if (!is_param(pat[i])) continue;
      auto decoded = domain::percent_decode(segs[i], false);
      if (!decoded) {
        m.error = decoded.err().message;
        decoded = std::string(segs[i]);
      }
      m.params.push_back(std::move(*decoded));
    }
    return m;
  }
  if (m.kind == match::method_not_allowed) m.allow += ", OPTIONS";
  return m;
}

response route_error(const router::match& m, method verb, std::string_view path) {
  if (m.kind == router::match::method_not_allowed) {
    response r = failure(domain::make_error(domain::errc::method_not_allowed,
                                            std::string(to_string(verb)) + " is not allowed on " +
                                                std::string(path) + "; allowed: " + m.allow));
    r.headers.emplace_back("Allow", m.allow);
    return r;
  }
  return failure(
      domain::make_error(domain::errc::route_not_found, "no route for " + std::string(path)));
}

std::optional<response> unknown_query(const route& r, const query_params& q) {
  for (const auto& [name, value] : q.items()) {
    if (std::find(r.query.begin(), r.query.end(), name) != r.query.end()) continue;
    std::string takes;
    for (const auto& known : r.query)
      takes += (takes.empty() ? "" : ", ") + known;
    return failure(domain::make_error(
        domain::errc::validation_failed, "unknown query parameter '" + domain::excerpt(name) + "'",
        {{domain::excerpt(name), takes.empty()
                                     ? "is not a parameter of this endpoint, which takes none"
                                     : "is not a parameter of this endpoint; it takes " + takes}}));
  }
  return std::nullopt;
}

}  // namespace referrald::http
