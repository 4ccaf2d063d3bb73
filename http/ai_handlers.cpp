// AI referrals (docs/api-guide.md, "AI referrals"):
//   GET    /ai-platforms
//   GET    /known-referrers
//   GET    /{brand_id}/ai-referrals/connections          POST the same
//   GET    /{brand_id}/ai-referrals/connections/{id}     DELETE the same
//   POST   /{brand_id}/ai-referrals/connections/{id}/events
//   GET    /{brand_id}/ai-referrals/report

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "actors/connection_table.hpp"
#include "domain/ai/ai_platforms.hpp"
#include "domain/ai/ai_report.hpp"
#include "domain/ai/connection.hpp"
#include "domain/attribution/known_referrers.hpp"
#include "domain/base/clock.hpp"
#include "domain/base/ids.hpp"
#include "domain/base/pager.hpp"
#include "domain/base/text.hpp"
#include "http/handlers.hpp"

namespace referrald::http {

namespace {

// The longest range a report may cover.
constexpr std::int64_t k_report_max_days = 3660;

// The brand of the path: a positive int64 (else 400) that the key holds (else 403).
domain::result<std::int64_t> brand_param(const request_ctx& c) {
  tenant own;
  const tenant& t = named_tenant(c, tenant_of::brand, own);
  if (t.problem) return *t.problem;
  return t.brand;
}

domain::error unknown_connection(std::int64_t brand, const std::string& id) {
  return domain::make_error(
      domain::errc::not_found,
      "connection " + id + " does not exist for brand " + std::to_string(brand));
}

// An active connection of the brand named by path parameter `index`.
domain::result<std::string> connection_param(const request_ctx& c, std::int64_t brand,
                                             std::size_t index) {
  const std::string& raw = c.params.at(index);
  auto id = domain::parse_ulid(raw);
  // The table is held while its connection is read: the brand's actor may publish the next
  // one meanwhile, and the last holder of this one frees it.
  auto table = c.runtime->connections();
  const auto* conn = id ? table->find(brand, *id) : nullptr;
  if (conn == nullptr || !conn->active()) return unknown_connection(brand, raw);
  return conn->id;
}

// The rows a push answer counts: "accepted" + "rejected".
std::size_t pushed_rows(const std::string& answer) {
  rapidjson::Document doc;
  doc.Parse(answer.data(), answer.size());
  if (!doc.IsObject()) return 1;
  std::size_t rows = 0;
  for (const char* name : {"accepted", "rejected"}) {
    auto it = doc.FindMember(name);
    if (it != doc.MemberEnd() && it->value.IsUint64()) rows += it->value.GetUint64();
  }
  return rows;
}

}  // namespace

std::optional<response> ai_platforms(request_ctx&) {
  static const std::string body =
      to_json([](domain::json_writer& w) { domain::ai_platform_list::builtin().write_json(w); });
  return success(200, body);
}

std::optional<response> known_referrers(request_ctx&) {
  static const std::string body =
      to_json([](domain::json_writer& w) { domain::known_referrer_list::builtin().write_json(w); });
  return success(200, body);
}

std::optional<response> connections_list(request_ctx& c) {
  auto brand = brand_param(c);
  if (!brand) return failure(brand.err());
  auto page = page_params(c);
  if (!page) return failure(page.err());
  auto active = bool_param(c.query, "is_active", true);
  if (!active) return failure(active.err());
  auto search = search_param(c);
  if (!search) return failure(search.err());
  const std::string& q = *search;
  auto table = c.runtime->connections();
  return success(
      200, to_json([&](domain::json_writer& w) {
        w.StartObject();
        w.Key("connections");
        w.StartArray();
        std::size_t total = 0, active_count = 0;
        domain::pager<std::string> pager(page->limit);
        bool full = false;
        for (const auto* conn : table->of_brand(*brand)) {
          ++total;
          if (conn->active()) ++active_count;
          if (full || conn->id <= page->starting_after || conn->active() != *active) {
            continue;
          }
          if (!q.empty() && domain::to_lower_ascii(conn->name).find(q) == std::string::npos) {
            continue;
          }
          if (!pager.room()) {
            full = true;
            continue;
          }
          domain::write_json(w, *conn);
          pager.wrote(conn->id);
        }
        w.EndArray();
        w.Key("total");
        w.Uint64(total);
        w.Key("active_count");
        w.Uint64(active_count);
        pager.finish(w);
        w.EndObject();
      }));
}

std::optional<response> connections_create(request_ctx& c) {
  auto brand = brand_param(c);
  if (!brand) return failure(brand.err());
  rapidjson::Document doc;
  if (auto st = json_body(c, doc); !st) return failure(st.err());
  auto req = domain::parse_connection_create(doc);
  if (!req) return failure(req.err());
  c.runtime->tell(
      actors::connection_create_req{*brand, std::move(*req), reply_with(c, 201), c.key->id});
  return std::nullopt;
}

std::optional<response> connections_get(request_ctx& c) {
  auto brand = brand_param(c);
  if (!brand) return failure(brand.err());
  auto id = connection_param(c, *brand, 1);
  if (!id) return failure(id.err());
  auto table = c.runtime->connections();
  const auto* conn = table->find(*brand, *id);
  if (conn == nullptr) return failure(unknown_connection(*brand, *id));
  return success(200, to_json([&](domain::json_writer& w) { domain::write_json(w, *conn); }));
}

std::optional<response> connections_delete(request_ctx& c) {
  auto brand = brand_param(c);
  if (!brand) return failure(brand.err());
  auto id = connection_param(c, *brand, 1);
  if (!id) return failure(id.err());
  c.runtime->tell(actors::connection_delete_req{*brand, std::move(*id), reply_with(c, 204),
                                                c.key->id, std::string(c.if_match)});
  return std::nullopt;
}

std::optional<response> connection_push(request_ctx& c) {
  auto brand = brand_param(c);
  if (!brand) return failure(brand.err());
  auto id = connection_param(c, *brand, 1);
  if (!id) return failure(id.err());
  if (auto st = check_json_type(c); !st) return failure(st.err());
  // The body moves to the ingest pool; the push answers its own shape, without the envelope.
  auto body = std::make_shared<std::string>(std::move(*c.body_storage));
  c.runtime->tell(actors::push_req{
      *brand, std::move(*id), std::move(body),
      actors::make_reply([respond = c.respond, on_session = c.on_session, limiter = c.limiter,
                          bucket = c.rate_bucket](actors::api_result r) {
        on_session([respond, limiter, bucket, r = std::move(r)]() mutable {
          if (!r.ok()) return respond(failure(r.err()));
          // The caller's rate limit counts the push's rows, accepted or rejected.
          if (limiter != nullptr) charge_rows(limiter, bucket, pushed_rows(r.value().data));
          respond(raw_json(200, std::move(r.value().data)));
        });
      }),
      c.key->id});
  return std::nullopt;
}

std::optional<response> ai_report(request_ctx& c) {
  auto brand = brand_param(c);
  if (!brand) return failure(brand.err());
  auto date_param = [&](const char* name) -> domain::result<std::int64_t> {
    const std::string* v = c.query.get(name);
    if (v == nullptr) return domain::field_invalid(name, "is required (YYYY-MM-DD)");
    auto d = domain::parse_date(*v);
    if (!d)
      return domain::field_invalid(name, "must be a real calendar date in the form YYYY-MM-DD");
    return *d;
  };
  auto from = date_param("from");
  if (!from) return failure(from.err());
  auto to = date_param("to");
  if (!to) return failure(to.err());
  if (*to < *from) return failure(domain::field_invalid("to", "must not be before from"));
  if (*to - *from >= k_report_max_days) {
    return failure(domain::field_invalid("to", "the range may cover at most 3660 days"));
  }
  auto grouping = domain::report_grouping::none;
  if (const std::string* g = c.query.get("group_by")) {
    auto parsed = domain::report_grouping_from_string(*g);
    if (!parsed)
      return failure(
          domain::field_invalid("group_by", "must be platform, date, page or date,platform"));
    grouping = *parsed;
  }
  std::optional<std::string> connection;
  if (const std::string* raw = c.query.get("connection_id")) {
    // Deleted connections keep their rows: they can still be reported on.
    auto id = domain::parse_ulid(*raw);
    if (!id || c.runtime->connections()->find(*brand, *id) == nullptr) {
      return failure(unknown_connection(*brand, *raw));
    }
    connection = *id;
  }
  auto page = page_params(c);
  if (!page) return failure(page.err());
  if (grouping == domain::report_grouping::none &&
      (c.query.get("limit") != nullptr || c.query.get("starting_after") != nullptr)) {
    return failure(domain::field_invalid(c.query.get("limit") ? "limit" : "starting_after",
                                         "pages the groups: it needs group_by"));
  }
  c.runtime->tell(actors::report_req{*brand,
                                     *from,
                                     *to,
                                     std::move(connection),
                                     grouping,
                                     reply_with(c, 200),
                                     {page->limit, page->starting_after}});
  return std::nullopt;
}

}  // namespace referrald::http
