#pragma once

// The tenant step (http/chain.hpp): the account (account_id) or brand ({brand_id}) a
// request names, read once per request from where its route says (route_spec::tenant), and
// checked against the caller's grants. The owners step, Referrald-Min-Seq, the handlers and
// the access log read it from here.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "domain/auth/api_key.hpp"
#include "domain/base/result.hpp"
#include "http/query.hpp"

namespace referrald::http {

// Where a route's requests name their tenant (route_spec::tenant).
enum class tenant_of : std::uint8_t {
  none,
  account,  // the account_id query parameter
  brand,    // the path's {brand_id}, its first segment
};

struct tenant {
  tenant_of kind{};
  std::string id;          // as the request names it; "" when it names none
  std::int64_t brand = 0;  // a brand's id, once valid
  // Why it cannot be used: absent, malformed, or not one the caller's key holds.
  std::optional<domain::error> problem;
  // Whether `id` is well formed (a write's owner is looked up by it).
  bool well_formed = false;

  // "account/acme" or "brand/12": the scope a write of it is owned by; "" when none.
  std::string scope() const;
};

// The tenant of a request to a route of `kind`, from its query and path parameters, for
// the caller `key` (null: any grant).
tenant read_tenant(tenant_of kind, const query_params& query,
                   const std::vector<std::string>& params, const domain::api_key* key);

}  // namespace referrald::http
