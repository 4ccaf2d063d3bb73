// /api-keys: admin-only key management (README, "API keys (admin)").

#include "domain/auth/api_key.hpp"
#include "http/handlers.hpp"

namespace referrald::http {

std::optional<response> api_keys_list(request_ctx& c) {
  c.runtime->tell(actors::key_list_req{*c.key, reply_with(c, 200)});
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
