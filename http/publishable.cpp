#include "http/publishable.hpp"

#include <string>

#include "domain/base/text.hpp"
#include "http/query.hpp"
#include "http/steps.hpp"

namespace referrald::http {

std::optional<response> publishable_refusal(const exchange& ex) {
  if (!ex.match.entry->publishable) {
    return failure(domain::make_error(
        domain::errc::forbidden,
        "API key " + std::to_string(ex.key->id) +
            " is a publishable key: it may only call POST /attribution/resolve"));
  }
  std::string_view origin = ex.field(boost::beast::http::field::origin);
  if (origin.empty()) {
    return failure(domain::make_error(
        domain::errc::forbidden,
        "a publishable key is used from the web pages of its allowed origins: the request has "
        "no Origin header",
        {{"Origin", "is required with a publishable key"}}));
  }
  if (!ex.key->allows_origin(origin)) {
    return failure(domain::make_error(domain::errc::forbidden,
                                      "the origin " + domain::excerpt(origin) +
                                          " is not one of publishable key " +
                                          std::to_string(ex.key->id) + "'s allowed_origins",
                                      {{"Origin", "is not one of the key's allowed_origins"}}));
  }
  // A page's key answers what a visitor's own visit is, now: nothing of the rules. Parameters
  // that do not read are left to the query step and the handler, which name them.
  std::string_view target = ex.target;
  auto mark = target.find('?');
  if (mark == std::string_view::npos) return std::nullopt;
  auto query = query_params::parse(target.substr(mark + 1));
  if (!query) return std::nullopt;
  auto explain = bool_param(*query, "explain", false);
  auto as_of = time_param(*query, "as_of");
  bool explains = explain && *explain;
  if (!explains && !(as_of && *as_of)) return std::nullopt;
  std::string name = explains ? "explain" : "as_of";
  return failure(domain::make_error(domain::errc::forbidden,
                                    "a publishable key cannot resolve with " + name,
                                    {{name, "needs a viewer, editor or admin key"}}));
}

namespace {

class publishable_step final : public step {
 public:
  explicit publishable_step(const chain_parts& parts)
      : runtime_(parts.runtime), clock_(parts.clock) {}
  std::string_view name() const override { return "publishable"; }
  verdict request(const flow& f) override {
    exchange& ex = f.ex();
    if (ex.routed() && (ex.key == nullptr || ex.key->role != domain::role::publishable)) {
      return verdict::next();
    }
    std::string_view origin = ex.field(boost::beast::http::field::origin);
    if (!ex.routed()) {
      // A preflight carries no key: its origin is a page's when a key that has not expired
      // lists it, on a route such a key may call.
      const route* path = ex.match.same_path;
      ex.page_origin = !origin.empty() && path != nullptr && path->publishable &&
                       runtime_.keys()->lists_origin(origin, clock_.now_ms());
      return verdict::next();
    }
    ex.page = true;
    ex.page_origin = ex.key->allows_origin(origin);
    if (!ex.refusal) ex.refusal = publishable_refusal(ex);
    return verdict::next();
  }

 private:
  actors::runtime& runtime_;
  const domain::clock& clock_;
};

}  // namespace

std::unique_ptr<step> make_publishable_step(const chain_parts& parts) {
  return std::make_unique<publishable_step>(parts);
}

}  // namespace referrald::http
