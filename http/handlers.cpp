#include "http/handlers.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "domain/base/ids.hpp"
#include "domain/base/json.hpp"
#include "domain/base/text.hpp"
#include "http/http_metrics.hpp"
#include "http/openapi.hpp"
#include "http/rate_limiter.hpp"

namespace referrald::http {

using domain::access;

namespace {

// The OpenAPI document of the last router made (a server makes one), served as it is.
std::atomic<std::shared_ptr<const std::string>> g_openapi;

void publish_openapi(std::string doc) {
  g_openapi.store(std::make_shared<const std::string>(std::move(doc)));
}

}  // namespace

std::optional<response> openapi_json(request_ctx&) {
  auto doc = g_openapi.load();
  if (!doc) return failure(domain::make_error(domain::errc::not_found, "no document"));
  return raw_json(200, *doc);
}

router make_router(const limits& l) {
  // Routes without a body still accept (and ignore) one up to the rule limit.
  const std::size_t rule = l.rule_body, push = l.push_body;
  const auto read = access::read, write = access::write, admin = access::admin;
  const auto account = tenant_of::account, brand = tenant_of::brand;
  router r;
  r.add("/healthz", method::get, &healthz, {.body_limit = rule});
  r.add("/readyz", method::get, &readyz, {.body_limit = rule});
  r.add("/metrics", method::get, &metrics, {.body_limit = rule});
  // Static files ignore their query string; the API's description and the tracker script
  // may be read by any page; the console's files are not part of the API.
  r.add("/openapi.json", method::get, &openapi_json,
        {.body_limit = rule, .cors = page_access::any_page, .static_file = true});
  const route_spec console{.body_limit = rule, .documented = false};
  r.add("/console", method::get, &console_redirect, console);
  const route_spec console_files{
      .body_limit = rule, .documented = false, .etag = true, .static_file = true};
  r.add("/console/", method::get, &console_index, console_files);
  r.add("/console/{file}", method::get, &console_file, console_files);
  r.add("/js/referrald.js", method::get, &tracker_script,
        {.body_limit = rule, .cors = page_access::any_page, .etag = true, .static_file = true});

  r.add("/api-keys", method::get, &api_keys_list,
        {.access = admin, .body_limit = rule, .query = "limit starting_after is_active q"});
  r.add("/api-keys", method::post, &api_keys_create,
        {.access = admin, .body_limit = rule, .idempotent = true});
  // Before {id}, which would take "me" for an id.
  r.add("/api-keys/me", method::get, &api_keys_me,
        {.access = read, .body_limit = rule, .etag = true});
  r.add("/api-keys/{id}", method::get, &api_keys_get,
        {.access = admin, .body_limit = rule, .etag = true});
  r.add("/api-keys/{id}", method::patch, &api_keys_patch,
        {.access = admin, .body_limit = rule, .etag = true});
  r.add("/api-keys/{id}", method::del, &api_keys_delete, {.access = admin, .body_limit = rule});
  r.add("/api-keys/{id}/rotate", method::post, &api_keys_rotate,
        {.access = admin, .body_limit = rule, .idempotent = true});

  add_rule_routes(r, rule, push);

  // An account's log names the account; the admin streams (scope=keys, scope=brand) do not.
  r.add("/audit-log", method::get, &audit_log,
        {.access = admin,
         .body_limit = rule,
         .query = "scope account_id after_seq limit brand_id starting_after",
         .tenant = account});
  r.add("/admin/snapshots", method::get, &backups_list,
        {.access = admin, .body_limit = rule, .query = "limit starting_after"});
  r.add("/admin/snapshots", method::post, &backups_create,
        {.access = admin, .body_limit = rule, .idempotent = true});

  r.add("/attribution/resolve", method::post, &resolve_one,
        {.access = read,
         .body_limit = rule,
         .query = "account_id explain as_of",
         .tenant = account,
         .publishable = true});
  r.add("/attribution/resolve-batch", method::post, &resolve_batch,
        {.access = read,
         .body_limit = push,
         .query = "account_id explain as_of",
         .tenant = account,
         .streams = true});

  r.add("/insights", method::get, &insights_get,
        {.access = read,
         .body_limit = rule,
         .query = "account_id from to",
         .tenant = account,
         .from_every_node = true});
  r.add("/insights/referrers", method::get, &insights_referrers,
        {.access = read,
         .body_limit = rule,
         .query = "account_id from to limit starting_after",
         .tenant = account,
         .from_every_node = true});

  r.add("/ai-platforms", method::get, &ai_platforms, {.access = read, .body_limit = rule});
  r.add("/known-referrers", method::get, &known_referrers, {.access = read, .body_limit = rule});
  const std::string connections = "/{brand_id}/ai-referrals/connections";
  r.add(connections, method::get, &connections_list,
        {.access = read,
         .body_limit = rule,
         .query = "limit starting_after is_active q",
         .tenant = brand});
  r.add(connections, method::post, &connections_create,
        {.access = write,
         .body_limit = rule,
         .tenant = brand,
         .owned = true,
         .etag = true,
         .idempotent = true});
  r.add(connections + "/{connection_id}", method::get, &connections_get,
        {.access = read, .body_limit = rule, .tenant = brand, .etag = true});
  r.add(connections + "/{connection_id}", method::del, &connections_delete,
        {.access = write, .body_limit = rule, .tenant = brand, .owned = true});
  r.add(connections + "/{connection_id}/events", method::post, &connection_push,
        {.access = write, .body_limit = push, .tenant = brand, .owned = true});
  r.add("/{brand_id}/ai-referrals/report", method::get, &ai_report,
        {.access = read,
         .body_limit = rule,
         .query = "from to group_by connection_id limit starting_after",
         .tenant = brand});
  publish_openapi(openapi_document(r));
  return r;
}

void charge_rows(rate_limiter* limiter, const std::shared_ptr<std::atomic<std::int64_t>>& bucket,
                 std::size_t units) {
  if (limiter != nullptr && bucket && units > 1) {
    limiter->charge(*bucket, static_cast<double>(units - 1));
  }
}

const tenant& named_tenant(const request_ctx& c, tenant_of kind, tenant& own) {
  if (c.named != nullptr && c.named->kind == kind) return *c.named;
  own = read_tenant(kind, c.query, c.params, c.key);
  return own;
}

domain::result<std::string> account_param(const request_ctx& c) {
  tenant own;
  const tenant& t = named_tenant(c, tenant_of::account, own);
  if (t.problem) return *t.problem;
  return t.id;
}

domain::result<page> page_params(const request_ctx& c) {
  page p;
  auto limit = uint_param(c.query, "limit", 100, 1, 1000);
  if (!limit) return std::move(limit).err();
  p.limit = static_cast<std::size_t>(*limit);
  if (const std::string* after = c.query.get("starting_after")) {
    // Report groups by page have keys of up to 2,048 characters.
    if (after->empty() || after->size() > 8192) {
      return domain::field_invalid("starting_after",
                                   "must be the last id of the previous page (1-8192 characters)");
    }
    p.starting_after = *after;
  }
  return p;
}

domain::result<std::string> search_param(const request_ctx& c) {
  const std::string* q = c.query.get("q");
  if (q == nullptr) return std::string();
  if (q->empty() || q->size() > 255)
    return domain::field_invalid("q", "must be 1 to 255 characters");
  return domain::to_lower_ascii(*q);
}

domain::result<std::pair<std::size_t, std::int64_t>> id_page_params(const request_ctx& c) {
  auto limit = uint_param(c.query, "limit", 100, 1, 1000);
  if (!limit) return std::move(limit).err();
  auto after = uint_param(c.query, "starting_after", 0, 0, INT64_MAX);
  if (!after) return std::move(after).err();
  return std::pair{static_cast<std::size_t>(*limit), static_cast<std::int64_t>(*after)};
}

domain::result<std::int64_t> id_param(const request_ctx& c, std::size_t index,
                                      std::string_view what) {
  const std::string& raw = c.params.at(index);
  auto id = domain::parse_entity_id(raw);
  if (!id) {
    return domain::make_error(domain::errc::not_found,
                              std::string(what) + " '" + domain::excerpt(raw) + "' does not exist");
  }
  return *id;
}

// application/json, optionally with parameters; a charset, if given, must be UTF-8.
domain::result<std::size_t> body_media(const request_ctx& c,
                                       std::initializer_list<std::string_view> accepted) {
  std::string type = domain::to_lower_ascii(domain::trim(c.content_type));
  std::string_view media = type;
  std::string_view params;
  if (auto semi = media.find(';'); semi != std::string_view::npos) {
    params = media.substr(semi + 1);
    media = domain::trim(media.substr(0, semi));
  }
  bool charset_ok = true;
  if (auto cs = params.find("charset="); cs != std::string_view::npos) {
    std::string_view v = params.substr(cs + 8);
    v = v.substr(0, v.find(';'));
    v = domain::trim(v);
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    charset_ok = v == "utf-8" || v == "utf8";
  }
  std::size_t i = 0;
  std::string names;
  for (std::string_view one : accepted) {
    if (charset_ok && media == one) return i;
    names += (i == 0 ? "" : i + 1 == accepted.size() ? " or " : ", ") + std::string(one);
    ++i;
  }
  return domain::make_error(domain::errc::unsupported_media_type,
                            "the body must be sent as Content-Type: " + names + " (UTF-8)");
}

domain::status check_json_type(const request_ctx& c) {
  auto media = body_media(c, {"application/json"});
  if (!media) return media.err();
  return {};
}

domain::status json_body(const request_ctx& c, rapidjson::Document& doc) {
  if (auto st = check_json_type(c); !st) return st;
  return domain::parse_json(c.body, doc);
}

domain::status json_body_insitu(request_ctx& c, rapidjson::Document& doc) {
  if (auto st = check_json_type(c); !st) return st;
  return domain::parse_json_insitu(*c.body_storage, doc);
}

actors::reply_to reply_with(const request_ctx& c, unsigned status,
                            std::vector<std::pair<std::string, std::string>> headers) {
  // A create's answer names where the new object lives: the request's path and the new id,
  // with the request's account.
  std::string location;
  if (status == 201) {
    location = std::string(c.path) + "/{id}";
    if (const auto* account = c.query.get("account_id")) location += "?account_id=" + *account;
  }
  return actors::make_seq_reply(
      [on_session = c.on_session, respond = c.respond, status, headers = std::move(headers),
       location = std::move(location)](actors::api_result r, std::uint64_t seq) {
        // The answer arrives on the actor's thread: the envelope is built on the session's.
        on_session([respond, status, headers, location, seq, r = std::move(r)] {
          if (!r.ok()) return respond(failure(r.err()));
          response out = success(status, r.value().data);
          out.headers.insert(out.headers.end(), headers.begin(), headers.end());
          if (seq != 0) out.headers.emplace_back("Referrald-Seq", std::to_string(seq));
          if (!location.empty() && !r.value().created_id.empty()) {
            std::string where = location;
            where.replace(where.find("{id}"), 4, r.value().created_id);
            out.headers.emplace_back("Location", std::move(where));
          }
          respond(std::move(out));
        });
      });
}

std::optional<response> with_view_later(request_ctx& c, const std::string& account,
                                        std::function<response(const domain::account_state&)> fn) {
  auto* rt = c.runtime;
  c.runtime->tell(
      account,
      actors::await_loaded_req{
          actors::make_reply([rt, account, fn = std::move(fn), respond = c.respond,
                              on_session = c.on_session](actors::api_result loaded) {
            on_session([rt, account, fn, respond, loaded = std::move(loaded)] {
              if (!loaded) return respond(failure(loaded.err()));
              auto view = rt->view(account);
              if (!view) {
                return respond(failure(domain::make_error(
                    domain::errc::unavailable, "the account was unloaded meanwhile; retry")));
              }
              respond(fn(*view));
            });
          })});
  return std::nullopt;
}

std::optional<response> healthz(request_ctx&) { return raw_json(200, R"({"status":"ok"})"); }

std::optional<response> readyz(request_ctx& c) {
  auto r = c.runtime->ready();
  const std::vector<std::string> reasons = actors::runtime::not_ready_reasons(r);
  rapidjson::StringBuffer buf;
  domain::json_writer w(buf);
  w.StartObject();
  w.Key("status");
  w.String(reasons.empty() ? "ready" : "not_ready");
  actors::runtime::write_details(w, r);
  if (!reasons.empty()) {
    w.Key("reasons");
    w.StartArray();
    for (const auto& why : reasons)
      w.String(why.c_str(), static_cast<rapidjson::SizeType>(why.size()));
    w.EndArray();
  }
  w.EndObject();
  auto out = raw_json(reasons.empty() ? 200 : 503, std::string(buf.GetString(), buf.GetSize()));
  if (!reasons.empty()) out.headers.emplace_back("Retry-After", "1");
  return out;
}

std::optional<response> metrics(request_ctx& c) {
  response r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = c.metrics->render(c.runtime->live_accounts());
  c.runtime->render_metrics(r.body);
  return r;
}

}  // namespace referrald::http
