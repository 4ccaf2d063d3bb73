// /api-keys: admin-only key management (README, "API keys (admin)").

#include "domain/auth/api_key.hpp"
#include "domain/base/text.hpp"
#include "http/handlers.hpp"

namespace referrald::http {

std::optional<response> api_keys_list(request_ctx& c) {
  actors::key_list_req req;
  req.caller = *c.key;
  req.reply = reply_with(c, 200);
  auto active = bool_param(c.query, "is_active", true);
  if (!active) return failure(active.err());
  req.active = *active;
  if (const std::string* q = c.query.get("q")) {
    if (q->empty() || q->size() > 255) {
      return failure(domain::field_invalid("q", "must be 1 to 255 characters"));
    }
    req.q = domain::to_lower_ascii(*q);
  }
  auto page = id_page_params(c);
  if (!page) return failure(page.err());
  req.limit = page->first;
  req.starting_after = page->second;
  c.runtime->tell(std::move(req));
  return std::nullopt;
}

std::optional<response> api_keys_create(request_ctx& c) {
  rapidjson::Document doc;
  if (auto st = json_body(c, doc); !st) return failure(st.err());
  auto req = domain::parse_api_key_create(doc);
  if (!req) return failure(req.err());
  // The answer holds the secret: no cache may keep it.
  c.runtime->tell(actors::key_create_req{std::move(*req), *c.key,
                                         reply_with(c, 201, {{"Cache-Control", "no-store"}})});
  return std::nullopt;
}

std::optional<response> api_keys_get(request_ctx& c) {
  auto id = id_param(c, 0, "API key");
  if (!id) return failure(id.err());
  c.runtime->tell(actors::key_get_req{*id, *c.key, reply_with(c, 200)});
  return std::nullopt;
}

std::optional<response> api_keys_delete(request_ctx& c) {
  auto id = id_param(c, 0, "API key");
  if (!id) return failure(id.err());
  c.runtime->tell(actors::key_delete_req{*id, *c.key, reply_with(c, 204)});
  return std::nullopt;
}

}  // namespace referrald::http
