// The rule APIs, one set of handlers for every rule kind:
//   /passthrough-referrers  (shared/seeds/passthrough-referrers-api.txt)
//   /referrer-mappings      (shared/seeds/referrer-mappings-api.txt)
// Reads are answered from the account's published state when it is loaded; everything
// else goes to the account's actor. Reads with `as_of` (the state as it stood then) are
// folded from the store by the loader pool.

#include "domain/rules/account_state.hpp"
#include "domain/rules/entities.hpp"
#include "http/handlers.hpp"

namespace referrald::http {

template <class T>
std::optional<response> rule_list(request_ctx& c) {
  auto account = account_param(c);
  if (!account) return failure(account.err());
  auto inactive = bool_param(c.query, "include_inactive", false);
  if (!inactive) return failure(inactive.err());
  auto as_of = time_param(c.query, "as_of");
  if (!as_of) return failure(as_of.err());
  if (*as_of) {
    c.runtime->tell(actors::list_as_of_req<T>{*account, **as_of, *inactive, reply_with(c, 200)});
    return std::nullopt;
  }
  if (auto view = c.runtime->view(*account)) {
    return success(200, domain::list_json<T>(*view, *inactive));
  }
  c.runtime->tell(*account, actors::list_req<T>{*inactive, reply_with(c, 200)});
  return std::nullopt;
}

template <class T>
std::optional<response> rule_create(request_ctx& c) {
  auto account = account_param(c);
  if (!account) return failure(account.err());
  rapidjson::Document doc;
  if (auto st = json_body(c, doc); !st) return failure(st.err());
  auto input = domain::parse_create<T>(doc);
  if (!input) return failure(input.err());
  c.runtime->tell(*account,
                  actors::create_req<T>{std::move(*input), c.key->id, reply_with(c, 201)});
  return std::nullopt;
}

template <class T>
std::optional<response> rule_get(request_ctx& c) {
  auto account = account_param(c);
  if (!account) return failure(account.err());
  auto id = id_param(c, 0, domain::kind_traits<T>::noun);
  if (!id) return failure(id.err());
  auto as_of = time_param(c.query, "as_of");
  if (!as_of) return failure(as_of.err());
  if (*as_of) {
    c.runtime->tell(actors::get_as_of_req<T>{*account, **as_of, *id, reply_with(c, 200)});
    return std::nullopt;
  }
  if (auto view = c.runtime->view(*account)) {
    auto json = domain::get_json<T>(*view, *id);
    return json ? success(200, *json) : failure(json.err());
  }
  c.runtime->tell(*account, actors::get_req<T>{*id, reply_with(c, 200)});
  return std::nullopt;
}

template <class T>
std::optional<response> rule_patch(request_ctx& c) {
  auto account = account_param(c);
  if (!account) return failure(account.err());
  auto id = id_param(c, 0, domain::kind_traits<T>::noun);
  if (!id) return failure(id.err());
  rapidjson::Document doc;
  if (auto st = json_body(c, doc); !st) return failure(st.err());
  auto patch = domain::parse_patch<T>(doc);
  if (!patch) return failure(patch.err());
  c.runtime->tell(*account,
                  actors::patch_req<T>{*id, std::move(*patch), c.key->id, reply_with(c, 200)});
  return std::nullopt;
}

template <class T>
std::optional<response> rule_delete(request_ctx& c) {
  auto account = account_param(c);
  if (!account) return failure(account.err());
  auto id = id_param(c, 0, domain::kind_traits<T>::noun);
  if (!id) return failure(id.err());
  c.runtime->tell(*account, actors::delete_req<T>{*id, c.key->id, reply_with(c, 204)});
  return std::nullopt;
}

template <class T>
void add_rule_routes(router& r, const std::string& base, std::size_t body_limit) {
  using domain::access;
  r.add(base, method::get, &rule_list<T>, access::read, body_limit);
  r.add(base, method::post, &rule_create<T>, access::write, body_limit);
  r.add(base + "/{id}", method::get, &rule_get<T>, access::read, body_limit);
  r.add(base + "/{id}", method::patch, &rule_patch<T>, access::write, body_limit);
  r.add(base + "/{id}", method::del, &rule_delete<T>, access::write, body_limit);
}

void add_rule_routes(router& r, std::size_t body_limit) {
  add_rule_routes<domain::passthrough_referrer>(r, "/passthrough-referrers", body_limit);
  add_rule_routes<domain::referrer_mapping>(r, "/referrer-mappings", body_limit);
}

}  // namespace referrald::http
