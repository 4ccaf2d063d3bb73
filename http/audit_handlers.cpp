// Audits and backups (docs/api-guide.md, "Time travel, audit log and backups"):
//   GET  /audit-log?account_id=X[&after_seq=N][&limit=M]   an account's events, paged
//   POST /admin/snapshots                                   an online backup of the store
//   GET  /admin/snapshots                                   the backups taken so far
// Each reads or copies the store, so it is handed to a detached actor (loader pool,
// backup actor); the I/O thread only validates.

#include "domain/base/ids.hpp"
#include "http/handlers.hpp"

namespace referrald::http {

namespace {

constexpr std::uint64_t k_default_audit_page = 100;
constexpr std::uint64_t k_max_audit_page = 1000;

// A backup holds every account's and brand's data: only a key that holds them all may
// take or list one.
std::optional<response> unless_unscoped(const request_ctx& c, std::string_view what = "backups") {
  if (c.key->grants.all_accounts && c.key->grants.all_brands) return std::nullopt;
  return failure(domain::make_error(
      domain::errc::forbidden,
      std::string(what) +
          " cover every account and brand: this needs an admin key granted accounts "
          "[\"*\"] and brands [\"*\"]"));
}

// scope=keys (a key holding every account and brand) or scope=brand&brand_id=N (a key
// holding the brand): the admin audit streams, paged by entry id.
std::optional<response> admin_audit_log(request_ctx& c, const std::string& scope) {
  std::string stream;
  if (scope == "keys") {
    if (auto denied = unless_unscoped(c, "the keys audit stream")) return denied;
    if (c.query.get("brand_id") != nullptr) {
      return failure(domain::field_invalid("brand_id", "belongs to scope=brand"));
    }
    stream = "keys";
  } else if (scope == "brand") {
    const std::string* raw = c.query.get("brand_id");
    if (raw == nullptr)
      return failure(domain::field_invalid("brand_id", "is required with scope=brand"));
    auto brand = domain::parse_brand_id(*raw);
    if (!brand) return failure(domain::field_invalid("brand_id", "must be a positive integer"));
    if (!c.key->grants.holds_brand(*brand)) {
      return failure(domain::make_error(domain::errc::forbidden,
                                        "this API key has no access to brand " + *raw));
    }
    stream = "brand." + std::to_string(*brand);
  } else {
    return failure(domain::field_invalid("scope", "must be account, keys or brand"));
  }
  for (const char* name : {"account_id", "after_seq"}) {
    if (c.query.get(name) != nullptr) {
      return failure(domain::field_invalid(name, "belongs to scope=account"));
    }
  }
  auto page = page_params(c);
  if (!page) return failure(page.err());
  c.runtime->tell(actors::admin_audit_req{std::move(stream), page->starting_after, page->limit,
                                          reply_with(c, 200)});
  return std::nullopt;
}

}  // namespace

std::optional<response> audit_log(request_ctx& c) {
  const std::string* scope = c.query.get("scope");
  if (scope != nullptr && *scope != "account") return admin_audit_log(c, *scope);
  for (const char* name : {"brand_id", "starting_after"}) {
    if (c.query.get(name) != nullptr) {
      return failure(domain::field_invalid(name, "belongs to scope=keys or scope=brand"));
    }
  }
  auto account = account_param(c);
  if (!account) return failure(account.err());
  auto after = uint_param(c.query, "after_seq", 0, 0, UINT64_MAX - 1);
  if (!after) return failure(after.err());
  auto limit = uint_param(c.query, "limit", k_default_audit_page, 1, k_max_audit_page);
  if (!limit) return failure(limit.err());
  c.runtime->tell(
      actors::audit_req{*account, *after, static_cast<std::size_t>(*limit), reply_with(c, 200)});
  return std::nullopt;
}

std::optional<response> backups_create(request_ctx& c) {
  if (auto denied = unless_unscoped(c)) return denied;
  c.runtime->tell(actors::backup_create_req{reply_with(c, 201)});
  return std::nullopt;
}

std::optional<response> backups_list(request_ctx& c) {
  if (auto denied = unless_unscoped(c)) return denied;
  auto page = page_params(c);
  if (!page) return failure(page.err());
  actors::backup_list_req req;
  req.reply = reply_with(c, 200);
  req.limit = page->limit;
  req.starting_after = page->starting_after;
  c.runtime->tell(std::move(req));
  return std::nullopt;
}

}  // namespace referrald::http
