#include "http/tenant.hpp"

#include "domain/base/ids.hpp"
#include "domain/base/text.hpp"
#include "http/steps.hpp"

namespace referrald::http {

std::string tenant::scope() const {
  if (!well_formed) return {};
  return (kind == tenant_of::account ? "account/" : "brand/") + id;
}

tenant read_tenant(tenant_of kind, const query_params& query,
                   const std::vector<std::string>& params, const domain::api_key* key) {
  tenant t;
  t.kind = kind;
  if (kind == tenant_of::account) {
    const std::string* id = query.get("account_id");
    if (id == nullptr) {
      t.problem = domain::field_invalid("account_id", "is required");
      return t;
    }
    t.id = *id;
    t.well_formed = domain::is_valid_account_id(t.id);
    if (!t.well_formed) {
      t.problem = domain::field_invalid(
          "account_id",
          "must be 1-64 characters of a-z, 0-9, '_' and '-', starting with a letter or digit");
    } else if (key != nullptr && !key->grants.holds_account(t.id)) {
      t.problem = domain::make_error(domain::errc::forbidden,
                                     "this API key has no access to account '" + t.id + "'");
    }
  } else if (kind == tenant_of::brand && !params.empty()) {
    t.id = params.front();
    // Owned by its path segment as named: the owner answers what is wrong with it.
    t.well_formed = !t.id.empty();
    auto brand = domain::parse_brand_id(t.id);
    if (!brand) {
      t.problem = domain::field_invalid(
          "brand_id", "must be a positive integer, not '" + domain::excerpt(t.id) + "'");
    } else if (key != nullptr && !key->grants.holds_brand(*brand)) {
      t.problem = domain::make_error(
          domain::errc::forbidden, "this API key has no access to brand " + std::to_string(*brand));
    } else {
      t.brand = *brand;
    }
  }
  return t;
}

namespace {

class tenant_step final : public step {
 public:
  std::string_view name() const override { return "tenant"; }
  verdict request(const flow& f) override {
    exchange& ex = f.ex();
    tenant_of kind = ex.match.entry->tenant;
    if (kind != tenant_of::none) {
      ex.named = read_tenant(kind, ex.ctx.query, ex.ctx.params, ex.key);
      ex.ctx.named = &ex.named;
    }
    return verdict::next();
  }
};

}  // namespace

std::unique_ptr<step> make_tenant_step() { return std::make_unique<tenant_step>(); }

}  // namespace referrald::http
