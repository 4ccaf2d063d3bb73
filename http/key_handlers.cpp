// /api-keys: admin-only key management (docs/api-guide.md, "API keys (admin)").

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

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
  auto q = search_param(c);
  if (!q) return failure(q.err());
  req.q = std::move(*q);
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
  auto req = domain::parse_api_key_create(doc, c.clock->now_ms());
  if (!req) return failure(req.err());
  // The answer holds the secret: no cache may keep it.
  c.runtime->tell(actors::key_create_req{std::move(*req), *c.key,
                                         reply_with(c, 201, {{"Cache-Control", "no-store"}})});
  return std::nullopt;
}

// The caller's own key (any role): what a client such as the console shows and allows.
std::optional<response> api_keys_me(request_ctx& c) {
  rapidjson::StringBuffer buf;
  domain::json_writer w(buf);
  domain::write_json(w, *c.key);
  return success(200, std::string_view(buf.GetString(), buf.GetSize()));
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
  c.runtime->tell(actors::key_delete_req{*id, *c.key, reply_with(c, 204), std::string(c.if_match)});
  return std::nullopt;
}

std::optional<response> api_keys_patch(request_ctx& c) {
  auto id = id_param(c, 0, "API key");
  if (!id) return failure(id.err());
  rapidjson::Document doc;
  if (auto st = json_body(c, doc); !st) return failure(st.err());
  auto patch = domain::parse_api_key_patch(doc, c.clock->now_ms());
  if (!patch) return failure(patch.err());
  c.runtime->tell(actors::key_patch_req{*id, std::move(*patch), *c.key, reply_with(c, 200),
                                        std::string(c.if_match)});
  return std::nullopt;
}

// POST /api-keys/{id}/rotate [{"overlap_seconds": N}]: N from 0 to 30 days, default 1 day.
std::optional<response> api_keys_rotate(request_ctx& c) {
  constexpr std::int64_t k_default_overlap = 24 * 3600, k_max_overlap = 30 * 24 * 3600;
  auto id = id_param(c, 0, "API key");
  if (!id) return failure(id.err());
  std::int64_t overlap = k_default_overlap;
  if (!c.body.empty()) {
    rapidjson::Document doc;
    if (auto st = json_body(c, doc); !st) return failure(st.err());
    domain::field_reader in(doc, {"overlap_seconds"});
    if (const auto* v = in.value("overlap_seconds")) {
      auto n = domain::integral_value(*v);
      if (!n || *n < 0 || *n > k_max_overlap) {
        in.fail("overlap_seconds", "must be a whole number of seconds from 0 to 2592000 (30 days)");
      } else {
        overlap = *n;
      }
    }
    if (auto st = in.finish(); !st) return failure(st.err());
  }
  c.runtime->tell(actors::key_rotate_req{*id, overlap * 1000, *c.key,
                                         reply_with(c, 200, {{"Cache-Control", "no-store"}})});
  return std::nullopt;
}

}  // namespace referrald::http
