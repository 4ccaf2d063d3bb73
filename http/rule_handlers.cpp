// The rule APIs, one set of handlers for every rule kind:
//   /passthrough-referrers  (docs/api-guide.md, "Passthrough referrers")
//   /referrer-mappings      (docs/api-guide.md, "Referrer mappings")
//   /channel-rules          (docs/api-guide.md, "Channel rules")
//   /settings               (docs/api-guide.md, "Settings": one object per account)
// Lists and gets are answered from the account's published state (once its actor has
// loaded it: one read path); writes go to the account's actor. Reads with `as_of` (the state as it
// stood then) are folded from the store by the loader pool.

#include <rapidjson/document.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>

#include "domain/base/text.hpp"
#include "domain/rules/account_state.hpp"
#include "domain/rules/entities.hpp"
#include "domain/rules/import.hpp"
#include "domain/rules/starter_pack.hpp"
#include "http/compute_pool.hpp"
#include "http/handlers.hpp"

namespace referrald::http {

// The filters and the page of a list: include_inactive, is_active, q, match_type (mappings),
// limit, starting_after.
template <class T>
domain::result<domain::list_query> list_params(const request_ctx& c) {
  domain::list_query query;
  auto inactive = bool_param(c.query, "include_inactive", false);
  if (!inactive) return std::move(inactive).err();
  query.include_inactive = *inactive;
  if (c.query.get("is_active") != nullptr) {
    auto active = bool_param(c.query, "is_active", true);
    if (!active) return std::move(active).err();
    query.is_active = *active;
  }
  auto q = search_param(c);
  if (!q) return std::move(q).err();
  query.q = std::move(*q);
  if constexpr (std::is_same_v<T, domain::referrer_mapping> ||
                std::is_same_v<T, domain::channel_rule>) {
    if (const std::string* type = c.query.get("match_type")) {
      query.matches = domain::match_type_from_string(*type);
      if (!query.matches) {
        return domain::field_invalid(
            "match_type", "must be one of exact, contains, starts_with, ends_with, regex");
      }
    }
  }
  auto page = id_page_params(c);
  if (!page) return std::move(page).err();
  query.limit = page->first;
  query.starting_after = page->second;
  return query;
}

template <class T>
std::optional<response> rule_list(request_ctx& c) {
  auto account = account_param(c);
  if (!account) return failure(account.err());
  auto query = list_params<T>(c);
  if (!query) return failure(query.err());
  auto as_of = time_param(c.query, "as_of");
  if (!as_of) return failure(as_of.err());
  if (*as_of) {
    c.runtime->tell(
        actors::list_as_of_req<T>{*account, **as_of, std::move(*query), reply_with(c, 200)});
    return std::nullopt;
  }
  return with_view(c, *account, [query = std::move(*query)](const domain::account_state& s) {
    return success(200, domain::list_json<T>(s, query));
  });
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
  return with_view(c, *account, [id = *id](const domain::account_state& s) {
    auto json = domain::get_json<T>(s, id);
    return json ? success(200, *json) : failure(json.err());
  });
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
  c.runtime->tell(*account, actors::patch_req<T>{*id, std::move(*patch), c.key->id,
                                                 reply_with(c, 200), std::string(c.if_match)});
  return std::nullopt;
}

template <class T>
std::optional<response> rule_delete(request_ctx& c) {
  auto account = account_param(c);
  if (!account) return failure(account.err());
  auto id = id_param(c, 0, domain::kind_traits<T>::noun);
  if (!id) return failure(id.err());
  c.runtime->tell(
      *account, actors::delete_req<T>{*id, c.key->id, reply_with(c, 204), std::string(c.if_match)});
  return std::nullopt;
}

namespace {

bool is_csv(const request_ctx& c) {
  std::string type = domain::to_lower_ascii(domain::trim(c.content_type));
  return type == "text/csv" || type.starts_with("text/csv;");
}

// A CSV body is UTF-8: a charset parameter naming another encoding is refused (415), as for
// JSON.
domain::status check_csv_charset(const request_ctx& c) {
  std::string type = domain::to_lower_ascii(domain::trim(c.content_type));
  auto cs = type.find("charset=");
  if (cs == std::string::npos) return {};
  std::string_view v = std::string_view(type).substr(cs + 8);
  v = domain::trim(v.substr(0, v.find(';')));
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  if (v == "utf-8" || v == "utf8") return {};
  return domain::make_error(domain::errc::unsupported_media_type,
                            "a CSV body must be UTF-8 (Content-Type: text/csv; charset=utf-8)");
}

domain::error query_not_for_json(std::string_view name) {
  return domain::make_error(domain::errc::validation_failed,
                            std::string(name) + " is given in the JSON body of an import",
                            {{std::string(name),
                              "is a query parameter of CSV imports and "
                              "packs only; put it in the JSON body"}});
}

}  // namespace

// POST <base>/import: JSON body, CSV body (mode, validate_only in the query), or
// ?pack=starter (passthrough referrers; no body).
// An import, read on the compute pool (up to 10,000 rules are tens of milliseconds of
// work, not for an I/O thread). A JSON body is parsed there, its rows are checked in
// slices on the pool's threads at once, and the last slice to finish collects them in
// row order and hands the request to the account's actor; a CSV body is read in one step.
template <class T>
struct import_job : std::enable_shared_from_this<import_job<T>> {
  static constexpr std::size_t k_rows_per_slice = 1000;

  std::string account;
  std::int64_t key_id = 0;
  std::string body;
  std::optional<domain::import_request<T>> csv;  // mode and validate_only of a CSV import
  rapidjson::Document doc;
  domain::import_envelope envelope;
  std::vector<std::optional<domain::result<T>>> checked;
  std::atomic<std::size_t> slices_left{0};
  actors::reply_to reply;
  actors::runtime* runtime = nullptr;
  compute_pool* compute = nullptr;

  // The first step: parse, read the envelope, start the slices.
  bool start() {
    if (csv) {
      auto rows = domain::parse_import_csv<T>(body, csv->mode);
      if (!rows) {
        reply->deliver(std::move(rows).err());
        return true;
      }
      csv->rows = std::move(*rows);
      runtime->tell(account, actors::import_req<T>{std::move(*csv), key_id, std::move(reply)});
      return true;
    }
    if (auto st = domain::parse_json_insitu(body, doc); !st) {
      reply->deliver(std::move(st).err());
      return true;
    }
    envelope = domain::read_import_envelope<T>(doc);
    checked.resize(envelope.rows.size());
    std::size_t slices = (checked.size() + k_rows_per_slice - 1) / k_rows_per_slice;
    if (slices == 0) {
      finish();
      return true;
    }
    slices_left = slices;
    for (std::size_t i = 1; i < slices; ++i) {
      compute->submit(account, [self = this->shared_from_this(), i] {
        self->check(i);
        return true;
      });
    }
    check(0);
    return true;
  }

  void check(std::size_t slice) {
    std::size_t end = std::min(checked.size(), (slice + 1) * k_rows_per_slice);
    for (std::size_t i = slice * k_rows_per_slice; i < end; ++i)
      checked[i].emplace(domain::parse_create<T>(*envelope.rows[i]));
    if (slices_left.fetch_sub(1, std::memory_order_acq_rel) == 1) finish();
  }

  void finish() {
    std::vector<domain::result<T>> rows;
    rows.reserve(checked.size());
    for (auto& r : checked)
      rows.push_back(std::move(*r));
    auto req = domain::collect_import_rows<T>(std::move(envelope), std::move(rows));
    if (!req) {
      reply->deliver(std::move(req).err());
      return;
    }
    runtime->tell(account, actors::import_req<T>{std::move(*req), key_id, std::move(reply)});
  }
};

template <class T>
std::optional<response> rule_import(request_ctx& c) {
  auto account = account_param(c);
  if (!account) return failure(account.err());
  domain::import_request<T> req;
  const std::string* pack = c.query.get("pack");
  if (is_csv(c)) {
    if (auto st = check_csv_charset(c); !st) return failure(st.err());
  }
  if (pack != nullptr || is_csv(c)) {
    if (const std::string* mode = c.query.get("mode")) {
      auto m = domain::import_mode_from_string(*mode);
      if (!m) {
        return failure(domain::make_error(domain::errc::validation_failed,
                                          "mode must be one of create, upsert, replace",
                                          {{"mode", "must be one of create, upsert, replace"}}));
      }
      req.mode = *m;
    } else if (pack != nullptr) {
      req.mode = domain::import_mode::upsert;
    }
    auto validate_only = bool_param(c.query, "validate_only", false);
    if (!validate_only) return failure(validate_only.err());
    req.validate_only = *validate_only;
  }
  if (pack != nullptr) {
    if (!std::is_same_v<T, domain::passthrough_referrer> || *pack != "starter") {
      return failure(domain::make_error(
          domain::errc::validation_failed, "unknown pack '" + domain::excerpt(*pack) + "'",
          {{"pack", "the one pack is 'starter', for passthrough referrers"}}));
    }
    if (!c.body.empty()) {
      return failure(domain::make_error(domain::errc::validation_failed,
                                        "an import of a pack takes no body",
                                        {{"body", "must be empty with pack=starter"}}));
    }
    if constexpr (std::is_same_v<T, domain::passthrough_referrer>) {
      auto rules = domain::starter_pack_rules();
      if (!rules) return failure(rules.err());
      req.rows = std::move(*rules);
    }
  } else {
    auto job = std::make_shared<import_job<T>>();
    if (is_csv(c)) {
      job->csv = std::move(req);
    } else {
      for (const char* name : {"mode", "validate_only"})
        if (c.query.get(name) != nullptr) return failure(query_not_for_json(name));
      if (auto st = check_json_type(c); !st) return failure(st.err());
    }
    job->account = *account;
    job->key_id = c.key->id;
    job->body = std::move(*c.body_storage);
    job->reply = reply_with(c, 200);
    job->runtime = c.runtime;
    job->compute = c.compute;
    c.compute->submit(*account, [job] { return job->start(); });
    return std::nullopt;
  }
  c.runtime->tell(*account, actors::import_req<T>{std::move(req), c.key->id, reply_with(c, 200)});
  return std::nullopt;
}

// GET <base>/export?format=json|csv[&include_inactive=true]: a file an import reads back.
template <class T>
std::optional<response> rule_export(request_ctx& c) {
  auto account = account_param(c);
  if (!account) return failure(account.err());
  auto inactive = bool_param(c.query, "include_inactive", false);
  if (!inactive) return failure(inactive.err());
  const std::string* format = c.query.get("format");
  bool csv = format != nullptr && *format == "csv";
  if (format != nullptr && !csv && *format != "json") {
    return failure(domain::make_error(domain::errc::validation_failed, "format must be json or csv",
                                      {{"format", "must be json or csv"}}));
  }
  auto make = [csv, include = *inactive, name = *account](const domain::account_state& s) {
    response r;
    std::string file = name + "-" + std::string(domain::kind_traits<T>::list_name);
    if (csv) {
      r.body = domain::export_csv<T>(s, include);
      r.content_type = "text/csv; charset=utf-8";
      file += ".csv";
    } else {
      r.body = domain::export_json<T>(s, include);
      file += ".json";
    }
    r.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + file + "\"");
    return r;
  };
  return with_view(c, *account, make);
}

// GET /settings[?as_of=]: the account's settings (the defaults until first changed).
std::optional<response> settings_get(request_ctx& c) {
  using S = domain::account_settings;
  auto account = account_param(c);
  if (!account) return failure(account.err());
  auto as_of = time_param(c.query, "as_of");
  if (!as_of) return failure(as_of.err());
  if (*as_of) {
    c.runtime->tell(actors::get_as_of_req<S>{*account, **as_of, 1, reply_with(c, 200)});
    return std::nullopt;
  }
  return with_view(c, *account, [](const domain::account_state& s) {
    auto json = domain::get_json<S>(s, 1);
    return json ? success(200, *json) : failure(json.err());
  });
}

// PATCH /settings: changes the settings the body names (If-Match as for rules).
std::optional<response> settings_patch(request_ctx& c) {
  using S = domain::account_settings;
  auto account = account_param(c);
  if (!account) return failure(account.err());
  rapidjson::Document doc;
  if (auto st = json_body(c, doc); !st) return failure(st.err());
  auto patch = domain::parse_patch<S>(doc);
  if (!patch) return failure(patch.err());
  c.runtime->tell(*account, actors::patch_req<S>{1, std::move(*patch), c.key->id,
                                                 reply_with(c, 200), std::string(c.if_match)});
  return std::nullopt;
}

void add_settings_routes(router& r, std::size_t body_limit) {
  const auto account = tenant_of::account;
  r.add("/settings", method::get, &settings_get,
        {.access = domain::access::read,
         .body_limit = body_limit,
         .query = "account_id as_of",
         .tenant = account,
         .etag = true});
  r.add("/settings", method::patch, &settings_patch,
        {.access = domain::access::write,
         .body_limit = body_limit,
         .query = "account_id",
         .tenant = account,
         .owned = true,
         .etag = true});
}

// GET /passthrough-referrers/starter-pack
std::optional<response> starter_pack(request_ctx&) {
  return success(200, domain::starter_pack_json());
}

template <class T>
void add_rule_routes(router& r, const std::string& base, std::size_t body_limit,
                     std::size_t import_limit) {
  const auto read = domain::access::read, write = domain::access::write;
  const auto account = tenant_of::account;
  constexpr bool typed = !std::is_same_v<T, domain::passthrough_referrer>;  // has match_type
  r.add(base, method::get, &rule_list<T>,
        {.access = read,
         .body_limit = body_limit,
         .query =
             typed ? "account_id include_inactive as_of limit starting_after is_active q match_type"
                   : "account_id include_inactive as_of limit starting_after is_active q",
         .tenant = account});
  r.add(base, method::post, &rule_create<T>,
        {.access = write,
         .body_limit = body_limit,
         .query = "account_id",
         .tenant = account,
         .owned = true,
         .etag = true,
         .idempotent = true});
  // Before {id}, which would take "import" and "export" for ids.
  r.add(base + "/import", method::post, &rule_import<T>,
        {.access = write,
         .body_limit = import_limit,
         .query = typed ? "account_id mode validate_only" : "account_id pack mode validate_only",
         .tenant = account,
         .owned = true,
         .idempotent = true});
  r.add(base + "/export", method::get, &rule_export<T>,
        {.access = read,
         .body_limit = body_limit,
         .query = "account_id format include_inactive",
         .tenant = account});
  r.add(base + "/{id}", method::get, &rule_get<T>,
        {.access = read,
         .body_limit = body_limit,
         .query = "account_id as_of",
         .tenant = account,
         .etag = true});
  r.add(base + "/{id}", method::patch, &rule_patch<T>,
        {.access = write,
         .body_limit = body_limit,
         .query = "account_id",
         .tenant = account,
         .owned = true,
         .etag = true});
  r.add(base + "/{id}", method::del, &rule_delete<T>,
        {.access = write,
         .body_limit = body_limit,
         .query = "account_id",
         .tenant = account,
         .owned = true});
}

void add_rule_routes(router& r, std::size_t body_limit, std::size_t import_limit) {
  r.add("/passthrough-referrers/starter-pack", method::get, &starter_pack,
        {.access = domain::access::read, .body_limit = body_limit});
  add_rule_routes<domain::passthrough_referrer>(r, "/passthrough-referrers", body_limit,
                                                import_limit);
  add_rule_routes<domain::referrer_mapping>(r, "/referrer-mappings", body_limit, import_limit);
  add_rule_routes<domain::channel_rule>(r, "/channel-rules", body_limit, import_limit);
  add_settings_routes(r, body_limit);
}

}  // namespace referrald::http
