#include "http/router.hpp"

#include <algorithm>

#include "domain/base/text.hpp"
#include "http/framing.hpp"
#include "http/request_head.hpp"
#include "http/steps.hpp"

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
  static_cast<route_spec&>(r) = spec;
  r.query = {};  // the names are kept in query_names, which own them
  r.pattern = std::move(pattern);
  for (auto seg : split(r.pattern))
    r.segments.emplace_back(seg);
  r.verb = verb;
  r.fn = fn;
  for (std::string_view q = spec.query; !q.empty();) {
    auto space = q.find(' ');
    if (space != 0) r.query_names.emplace_back(q.substr(0, space));
    q = space == std::string_view::npos ? std::string_view() : q.substr(space + 1);
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
    if (std::find(r.query_names.begin(), r.query_names.end(), name) != r.query_names.end())
      continue;
    std::string takes;
    for (const auto& known : r.query_names)
      takes += (takes.empty() ? "" : ", ") + known;
    return failure(domain::make_error(
        domain::errc::validation_failed, "unknown query parameter '" + domain::excerpt(name) + "'",
        {{domain::excerpt(name), takes.empty()
                                     ? "is not a parameter of this endpoint, which takes none"
                                     : "is not a parameter of this endpoint; it takes " + takes}}));
  }
  return std::nullopt;
}

namespace {

// Matches the request to its route. A request no route serves is answered 404 or 405, except
// an OPTIONS on a known path, which the CORS step answers (a browser's preflight).
class routing_step final : public step {
 public:
  explicit routing_step(const router& routes) : routes_(routes) {}
  std::string_view name() const override { return "routing"; }
  verdict request(const flow& f) override {
    exchange& ex = f.ex();
    auto& req = ex.head();
    ex.target = origin_form({req.target().data(), req.target().size()});
    std::string_view target = ex.target;
    ex.path = target.substr(0, target.find('?'));
    method verb = to_method(req.method());
    ex.match = routes_.find(verb, ex.path);
    if (ex.routed()) return verdict::next();
    if (verb == method::options && ex.match.kind == router::match::method_not_allowed) {
      return verdict::next();
    }
    return verdict::reply(route_error(ex.match, verb, ex.path));
  }

 private:
  const router& routes_;
};

}  // namespace

std::unique_ptr<step> make_routing_step(const chain_parts& parts) {
  return std::make_unique<routing_step>(parts.routes);
}

}  // namespace referrald::http
