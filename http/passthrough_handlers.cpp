// /passthrough-referrers (shared/seeds/passthrough-referrers-api.txt).

#include "domain/account_state.hpp"
#include "domain/passthrough.hpp"
#include "http/handlers.hpp"

namespace referrald::http {

std::optional<response> passthrough_list(request_ctx& c) {
  auto account = account_param(c);
  if (!account) return failure(account.err());
  auto inactive = bool_param(c.query, "include_inactive", false);
  if (!inactive) return failure(inactive.err());
  if (auto view = c.runtime->view(*account)) {
    return success(200, domain::passthrough_list_json(*view, *inactive));
  }
  c.runtime->tell(*account, actors::passthrough_list_req{*inactive, reply_with(c, 200)});
  return std::nullopt;
}

std::optional<response> passthrough_create(request_ctx& c) {
  auto account = account_param(c);
  if (!account) return failure(account.err());
  rapidjson::Document doc;
  if (auto st = json_body(c, doc); !st) return failure(st.err());
  auto input = domain::parse_passthrough_create(doc);
  if (!input) return failure(input.err());
  c.runtime->tell(*account,
                  actors::passthrough_create_req{std::move(*input), c.key->id, reply_with(c, 201)});
  return std::nullopt;
}

std::optional<response> passthrough_get(request_ctx& c) {
  auto account = account_param(c);
  if (!account) return failure(account.err());
  auto id = id_param(c, 0, "passthrough referrer");
  if (!id) return failure(id.err());
  if (auto view = c.runtime->view(*account)) {
    auto json = domain::passthrough_get_json(*view, *id);
    return json ? success(200, *json) : failure(json.err());
  }
  c.runtime->tell(*account, actors::passthrough_get_req{*id, reply_with(c, 200)});
  return std::nullopt;
}

std::optional<response> passthrough_patch(request_ctx& c) {
  auto account = account_param(c);
  if (!account) return failure(account.err());
  auto id = id_param(c, 0, "passthrough referrer");
  if (!id) return failure(id.err());
  rapidjson::Document doc;
  if (auto st = json_body(c, doc); !st) return failure(st.err());
  auto patch = domain::parse_passthrough_patch(doc);
  if (!patch) return failure(patch.err());
  c.runtime->tell(*account, actors::passthrough_patch_req{*id, std::move(*patch), c.key->id,
                                                          reply_with(c, 200)});
  return std::nullopt;
}

std::optional<response> passthrough_delete(request_ctx& c) {
  auto account = account_param(c);
  if (!account) return failure(account.err());
  auto id = id_param(c, 0, "passthrough referrer");
  if (!id) return failure(id.err());
  c.runtime->tell(*account, actors::passthrough_delete_req{*id, c.key->id, reply_with(c, 204)});
  return std::nullopt;
}

}  // namespace referrald::http
