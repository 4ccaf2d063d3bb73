#pragma once

#include <functional>

// Every route's handler, registered in one place (make_router), plus helpers shared by
// handlers. Handlers validate what they can on the I/O thread (query, tenancy, body)
// and hand the rest to actors.

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstddef>
#include <initializer_list>
#include <string>

#include "actors/reply.hpp"
#include "domain/base/json.hpp"
#include "domain/base/result.hpp"
#include "http/request.hpp"
#include "http/router.hpp"

namespace referrald::http {

struct limits {
  std::size_t rule_body = 1u << 20;   // rule APIs: 1 MiB
  std::size_t push_body = 32u << 20;  // AI push and rule imports: 32 MiB
};

router make_router(const limits& l);

// -- helpers --------------------------------------------------------------------------

// Answers with `fn(state)` from the account's published state: at once when the account
// is loaded, else once its actor has loaded it (on the session's executor, not the
// actor's thread).
std::optional<response> with_view_later(request_ctx& c, const std::string& account,
                                        std::function<response(const domain::account_state&)> fn);
template <class Fn>
std::optional<response> with_view(request_ctx& c, const std::string& account, Fn&& fn) {
  if (auto view = c.runtime->view(account)) return fn(*view);  // no allocation on this path
  return with_view_later(c, account, std::forward<Fn>(fn));
}

// The request's tenant of `kind`, as the tenant step read it once (http/tenant.hpp); for a
// handler called outside a server, read now into `own`.
const tenant& named_tenant(const request_ctx& c, tenant_of kind, tenant& own);

// The JSON `fn` writes with the writer it is given.
template <class Fn>
std::string to_json(Fn&& fn) {
  rapidjson::StringBuffer buf;
  domain::json_writer w(buf);
  fn(w);
  return {buf.GetString(), buf.GetSize()};
}

// The `account_id` query parameter: required, well-formed, held by the caller's key
// (else 400 / 403).
domain::result<std::string> account_param(const request_ctx& c);

// A list's page: `limit` (1-1000, default 100) and `starting_after`, the last id of the
// previous page ("" when absent: from the start).
struct page {
  std::size_t limit = 100;
  std::string starting_after;
};
domain::result<page> page_params(const request_ctx& c);
// A list's `q`: lowercased ("" when absent); 1-255 characters, else 400.
domain::result<std::string> search_param(const request_ctx& c);
// The same for a list of objects with integer ids (starting_after a whole number; 0: from the
// start).
domain::result<std::pair<std::size_t, std::int64_t>> id_page_params(const request_ctx& c);

// A positive integer path parameter (`what` names it in errors: 404 when malformed, as
// no such entity can exist).
domain::result<std::int64_t> id_param(const request_ctx& c, std::size_t index,
                                      std::string_view what);

// Which of the `accepted` media types (lowercase) the body is declared as, UTF-8 (a charset
// parameter, if any, says so): its position in the list; 415 naming them all otherwise.
domain::result<std::size_t> body_media(const request_ctx& c,
                                       std::initializer_list<std::string_view> accepted);
// 415 unless the body is declared application/json (UTF-8).
domain::status check_json_type(const request_ctx& c);

// The body as a JSON document: 415 unless application/json, 400 invalid_json.
domain::status json_body(const request_ctx& c, rapidjson::Document& doc);
// The same, parsed in place inside the request's own body storage (faster for large
// bodies); the document points into it, so it must not outlive the handler's response.
domain::status json_body_insitu(request_ctx& c, rapidjson::Document& doc);

// A reply channel that answers the request with `status` and the success envelope, or
// with the error envelope.
actors::reply_to reply_with(const request_ctx& c, unsigned status,
                            std::vector<std::pair<std::string, std::string>> headers = {});

// -- handlers -------------------------------------------------------------------------

std::optional<response> healthz(request_ctx& c);
std::optional<response> readyz(request_ctx& c);
std::optional<response> metrics(request_ctx& c);
std::optional<response> openapi_json(request_ctx& c);
std::optional<response> console_redirect(request_ctx& c);
std::optional<response> console_index(request_ctx& c);
std::optional<response> console_file(request_ctx& c);
std::optional<response> tracker_script(request_ctx& c);
std::optional<response> api_keys_me(request_ctx& c);

std::optional<response> api_keys_list(request_ctx& c);
std::optional<response> api_keys_create(request_ctx& c);
std::optional<response> api_keys_get(request_ctx& c);
std::optional<response> api_keys_delete(request_ctx& c);
std::optional<response> api_keys_patch(request_ctx& c);
std::optional<response> api_keys_rotate(request_ctx& c);

// AI referrals (http/ai_handlers.cpp).
std::optional<response> ai_platforms(request_ctx& c);
std::optional<response> known_referrers(request_ctx& c);
std::optional<response> connections_list(request_ctx& c);
std::optional<response> connections_create(request_ctx& c);
std::optional<response> connections_get(request_ctx& c);
std::optional<response> connections_delete(request_ctx& c);
std::optional<response> connection_push(request_ctx& c);
std::optional<response> ai_report(request_ctx& c);

// Audits and backups (http/audit_handlers.cpp).
std::optional<response> audit_log(request_ctx& c);
std::optional<response> backups_create(request_ctx& c);
std::optional<response> backups_list(request_ctx& c);

// Attribution resolution (http/attribution_handlers.cpp).
std::optional<response> resolve_one(request_ctx& c);
std::optional<response> resolve_batch(request_ctx& c);
std::optional<response> insights_get(request_ctx& c);
std::optional<response> insights_referrers(request_ctx& c);

// The rule APIs (/passthrough-referrers, /referrer-mappings): list, create, get, patch,
// delete for each kind (http/rule_handlers.cpp).
void add_rule_routes(router& r, std::size_t body_limit, std::size_t import_limit);

}  // namespace referrald::http
