#include "http/cors.hpp"

#include "domain/base/text.hpp"
#include "http/steps.hpp"

namespace referrald::http {

namespace {

// The request headers a browser page may send, and the answer headers it may read.
constexpr const char* k_request_headers =
    "Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key, X-Request-Id, "
    "Referrald-Min-Seq";
constexpr const char* k_exposed_headers =
    "ETag, Location, X-Request-Id, Referrald-Seq, Idempotent-Replayed, Retry-After, "
    "RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Content-Disposition";

}  // namespace

bool cors::allowed(std::string_view origin) const {
  for (const auto& o : origins_)
    if (o == origin || o == "*") return true;
  return false;
}

response cors::options(const std::string& allow, std::string_view origin, bool preflight,
                       bool page_origin) const {
  response r;
  r.status = 204;
  r.content_type.clear();
  r.headers.emplace_back("Allow", allow);
  if (!preflight) return r;
  if (!page_origin && !allowed(origin)) {
    response refused = failure(domain::make_error(
        domain::errc::forbidden,
        "the origin " + domain::excerpt(origin) + " may not call this API from a browser",
        {{"Origin",
          "is not one of the server's --cors-origins, nor of a publishable key's "
          "allowed_origins for this path"}}));
    refused.headers.emplace_back("Vary", "Origin");
    return refused;
  }
  r.headers.emplace_back("Access-Control-Allow-Origin", std::string(origin));
  r.headers.emplace_back("Access-Control-Allow-Methods", allow);
  r.headers.emplace_back("Access-Control-Allow-Headers", k_request_headers);
  r.headers.emplace_back("Access-Control-Max-Age", "600");
  r.headers.emplace_back("Vary", "Origin");
  return r;
}

void cors::decorate(response& r, std::string_view origin, bool public_route,
                    bool page_origin) const {
  if (public_route) {
    r.headers.emplace_back("Access-Control-Allow-Origin", "*");
  } else if (!origin.empty() && (page_origin || (!origins_.empty() && allowed(origin)))) {
    r.headers.emplace_back("Access-Control-Allow-Origin", std::string(origin));
    r.headers.emplace_back("Access-Control-Expose-Headers", k_exposed_headers);
    r.headers.emplace_back("Vary", "Origin");
  }
}

namespace {

// A browser's preflight (OPTIONS on a known path that the routing step let through) is
// answered here; every answer gets the headers its origin may read.
class cors_step final : public step {
 public:
  explicit cors_step(const cors& browsers) : browsers_(browsers) {}
  std::string_view name() const override { return "CORS"; }
  verdict request(const flow& f) override {
    exchange& ex = f.ex();
    if (ex.routed()) return verdict::next();
    std::string_view origin = ex.field(boost::beast::http::field::origin);
    auto& req = ex.head();
    bool preflight =
        !origin.empty() &&
        req.find(boost::beast::http::field::access_control_request_method) != req.end();
    const route* path = ex.match.same_path;
    bool page_origin =
        preflight && path != nullptr && (path->cors == page_access::any_page || ex.page_origin);
    return verdict::reply(browsers_.options(ex.match.allow, origin, preflight, page_origin));
  }
  void respond(exchange& ex, response& r) const override {
    bool any_page = ex.routed() && ex.match.entry->cors == page_access::any_page;
    browsers_.decorate(r, ex.field(boost::beast::http::field::origin), any_page,
                       ex.routed() && ex.page_origin);
  }

 private:
  const cors& browsers_;
};

}  // namespace

std::unique_ptr<step> make_cors_step(const chain_parts& parts) {
  return std::make_unique<cors_step>(parts.browsers);
}

}  // namespace referrald::http
