// Audits and backups (README, "Time travel, audit log and backups"):
//   GET  /audit-log?account_id=X[&after_seq=N][&limit=M]   an account's events, paged
//   POST /admin/snapshots                                   an online backup of the store
//   GET  /admin/snapshots                                   the backups taken so far
// Each reads or copies the store, so it is handed to a detached actor (loader pool,
// backup actor); the I/O thread only validates.

#include "http/handlers.hpp"

namespace referrald::http {

namespace {

constexpr std::uint64_t k_default_audit_page = 100;
constexpr std::uint64_t k_max_audit_page = 1000;

// A backup holds every account's and brand's data: only a key that holds them all may
// take or list one.
std::optional<response> unless_unscoped(const request_ctx& c) {
  if (c.key->grants.all_accounts && c.key->grants.all_brands) return std::nullopt;
  return failure(domain::make_error(
      domain::errc::forbidden,
      "backups cover every account and brand: this needs an admin key granted accounts "
      "[\"*\"] and brands [\"*\"]"));
}

}  // namespace

std::optional<response> audit_log(request_ctx& c) {
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
