// GET /insights and GET /insights/referrers (docs/insights.md): what an account's live
// resolutions said by day, and the fall-through referrer hosts and unknown utm_medium values
// with the rule that would catch each. Read access. The counts come from the runtime's
// collector (actors/insights_collector.hpp), merged before the answer so that it holds every
// resolution answered before the request. In cluster mode each node counts what it resolved:
// the node asked merges the other live nodes' parts (the members step, request_ctx::parts),
// and an answer that lacks a node's says so (`partial`, `nodes_missing`); a node asked for
// its part answers its days in their stored form (domain::encode_days).

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "actors/runtime.hpp"
#include "domain/base/clock.hpp"
#include "domain/base/pager.hpp"
#include "domain/insights/suggestions.hpp"
#include "domain/web/host.hpp"
#include "http/error_table.hpp"
#include "http/handlers.hpp"

namespace referrald::http {

namespace {

struct day_range {
  std::int64_t from = 0, to = 0;
};

// `from` and `to` (YYYY-MM-DD, UTC, both included): by default the last 7 days up to
// today; at most the days kept.
domain::result<day_range> range_params(const request_ctx& c,
                                       const actors::insights_collector& insights) {
  auto today = domain::day_of(insights.clock().now_ms());
  auto days_kept = insights.days_kept();
  auto date = [&](const char* name, std::int64_t fallback) -> domain::result<std::int64_t> {
    const std::string* v = c.query.get(name);
    if (v == nullptr) return fallback;
    auto d = domain::parse_date(*v);
    if (!d)
      return domain::field_invalid(name, "must be a real calendar date in the form YYYY-MM-DD");
    return *d;
  };
  auto to = date("to", today);
  if (!to) return to.err();
  auto from = date("from", *to - 6);
  if (!from) return from.err();
  if (*to < *from) return domain::field_invalid("to", "must not be before from");
  if (*to - *from >= static_cast<std::int64_t>(days_kept)) {
    return domain::field_invalid(
        "to", "the range may cover at most the " + std::to_string(days_kept) + " days kept");
  }
  return day_range{*from, *to};
}

void write_counts(domain::json_writer& w, const domain::day_insights& d) {
  w.Key("resolutions");
  w.Uint64(d.resolutions);
  w.Key("by_reason");
  w.StartObject();
  auto reasons = domain::all_reasons();
  for (std::size_t i = 0; i < reasons.size() && i < d.by_reason.size(); ++i) {
    if (d.by_reason[i] == 0) continue;
    w.Key(reasons[i].data(), static_cast<rapidjson::SizeType>(reasons[i].size()));
    w.Uint64(d.by_reason[i]);
  }
  w.EndObject();
  w.Key("by_channel");
  w.StartObject();
  for (const auto& [name, n] : d.by_channel) {
    domain::write_key(w, name);
    w.Uint64(n);
  }
  w.EndObject();
  w.Key("by_rule");
  w.StartArray();
  for (const auto& [rule, n] : d.by_rule.sorted()) {
    w.StartObject();
    w.Key("type");
    auto kind = domain::kind_name(rule.type);
    w.String(kind.data(), static_cast<rapidjson::SizeType>(kind.size()));
    w.Key("id");
    w.Int64(rule.id);
    w.Key("resolutions");
    w.Uint64(n);
    w.EndObject();
  }
  w.EndArray();
}

// {"method","path","body"}, or null without a body.
void write_request(domain::json_writer& w, std::string_view method, std::string_view path,
                   const std::string& body) {
  if (body.empty()) return static_cast<void>(w.Null());
  w.StartObject();
  w.Key("method");
  w.String(method.data(), static_cast<rapidjson::SizeType>(method.size()));
  w.Key("path");
  w.String(path.data(), static_cast<rapidjson::SizeType>(path.size()));
  w.Key("body");
  w.RawValue(body.data(), body.size(), rapidjson::kObjectType);
  w.EndObject();
}

void write_suggestion(domain::json_writer& w, const domain::suggestion& s) {
  w.Key("suggestion");
  w.StartObject();
  w.Key("kind");
  w.String(s.kind.data(), static_cast<rapidjson::SizeType>(s.kind.size()));
  w.Key("reason");
  domain::write_string(w, s.reason);
  w.Key("request");
  write_request(w, s.method, s.path, s.body);
  w.Key("dismiss");
  write_request(w, "PATCH", "/settings", s.dismiss);
  w.EndObject();
}

// The answer's first members: account_id, from, to.
void write_range_head(domain::json_writer& w, const std::string& account, const day_range& range) {
  w.Key("account_id");
  domain::write_string(w, account);
  w.Key("from");
  domain::write_string(w, domain::format_date(range.from));
  w.Key("to");
  domain::write_string(w, domain::format_date(range.to));
}

// The media type of a node's part (its days, domain::encode_days), for the node that asked.
constexpr const char* k_part_type = "application/vnd.referrald.insights-days";

// The days of the range an answer holds: this node's, and the other nodes' parts merged in,
// with the nodes whose part it holds and those whose part is missing (no answer in time, or
// not one that reads).
struct gathered {
  std::map<std::int64_t, domain::day_insights> days;
  std::vector<std::string> nodes, missing;

  void add(const domain::day_insights& d) {
    auto& into = days[d.day];
    into.day = d.day;
    into.merge(d);
  }
  domain::day_insights all() const {
    domain::day_insights out;
    for (const auto& [day, d] : days)
      out.merge(d);
    return out;
  }
};

gathered gather(actors::insights_collector& insights, const std::string& account,
                const day_range& range, const std::string& node,
                const std::vector<request_ctx::node_part>& parts) {
  gathered g;
  insights.read(account, range.from, range.to, [&](const auto& days) {
    for (const auto* d : days)
      g.add(*d);
  });
  if (!node.empty()) g.nodes.push_back(node);
  for (const auto& p : parts) {
    std::optional<std::vector<domain::day_insights>> theirs;
    if (p.answer && p.answer->status == 200) {
      if (auto d = domain::decode_days(p.answer->body)) theirs = std::move(*d);
    }
    if (!theirs) {
      g.missing.push_back(p.node);
      continue;
    }
    g.nodes.push_back(p.node);
    for (const auto& d : *theirs)
      if (d.day >= range.from && d.day <= range.to) g.add(d);
  }
  std::sort(g.nodes.begin(), g.nodes.end());
  std::sort(g.missing.begin(), g.missing.end());
  return g;
}

response referrers_answer(const gathered& g, const std::string& account_id, const day_range& range,
                          const page& page, const domain::account_settings& settings);

// partial, nodes, nodes_missing.
void write_nodes(domain::json_writer& w, const gathered& g) {
  w.Key("partial");
  w.Bool(!g.missing.empty());
  w.Key("nodes");
  w.StartArray();
  for (const auto& n : g.nodes)
    domain::write_string(w, n);
  w.EndArray();
  w.Key("nodes_missing");
  w.StartArray();
  for (const auto& n : g.missing)
    domain::write_string(w, n);
  w.EndArray();
}

// This node's part, for the node that asked.
response part_answer(actors::insights_collector& insights, const std::string& account,
                     const day_range& range) {
  response r;
  insights.read(account, range.from, range.to,
                [&](const auto& days) { r.body = domain::encode_days(days); });
  r.content_type = k_part_type;
  return r;
}

}  // namespace

std::optional<response> insights_get(request_ctx& c) {
  auto account = account_param(c);
  if (!account) return failure(account.err());
  auto& insights = c.runtime->insights();
  auto range = range_params(c, insights);
  if (!range) return failure(range.err());
  if (c.part_only) return part_answer(insights, *account, *range);
  auto g = gather(insights, *account, *range, c.node, c.parts);
  auto body = to_json([&](domain::json_writer& w) {
    w.StartObject();
    write_range_head(w, *account, *range);
    w.Key("days_kept");
    w.Uint64(insights.days_kept());
    write_nodes(w, g);
    w.Key("totals");
    w.StartObject();
    write_counts(w, g.all());
    w.EndObject();
    w.Key("days");
    w.StartArray();
    for (auto day = range->from; day <= range->to; ++day) {
      domain::day_insights none;
      auto it = g.days.find(day);
      const domain::day_insights& d = it != g.days.end() ? it->second : none;
      w.StartObject();
      w.Key("date");
      domain::write_string(w, domain::format_date(day));
      write_counts(w, d);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  });
  return success(200, body);
}

std::optional<response> insights_referrers(request_ctx& c) {
  auto account = account_param(c);
  if (!account) return failure(account.err());
  auto& insights = c.runtime->insights();
  auto range = range_params(c, insights);
  if (!range) return failure(range.err());
  auto page = page_params(c);
  if (!page) return failure(page.err());
  if (c.part_only) return part_answer(insights, *account, *range);
  // The account's settings, for an own_domain suggestion that keeps its own_domains.
  return with_view(c, *account,
                   [&insights, account = *account, range = *range, page = *page, node = c.node,
                    parts = std::move(c.parts)](const domain::account_state& s) {
                     domain::account_settings none;
                     const domain::account_settings& settings =
                         s.settings() != nullptr ? *s.settings() : none;
                     return referrers_answer(gather(insights, account, range, node, parts), account,
                                             range, page, settings);
                   });
}

namespace {

response referrers_answer(const gathered& g, const std::string& account, const day_range& range,
                          const page& page, const domain::account_settings& settings) {
  std::string body;
  {
    auto all = g.all();
    auto ranked = all.hosts.ranked();
    // The page: the hosts after `starting_after` in the order of their visits.
    std::size_t first = 0;
    if (!page.starting_after.empty()) {
      auto at = std::find_if(ranked.begin(), ranked.end(),
                             [&](const auto* e) { return e->key == page.starting_after; });
      first =
          at == ranked.end() ? ranked.size() : static_cast<std::size_t>(at - ranked.begin()) + 1;
    }
    body = to_json([&](domain::json_writer& w) {
      w.StartObject();
      write_range_head(w, account, range);
      write_nodes(w, g);
      // Any host not listed had at most this many visits in the range.
      w.Key("unlisted_at_most");
      w.Uint64(all.hosts.floor());
      w.Key("hosts_forgotten");
      w.Uint64(all.hosts.evictions());
      w.Key("referrers");
      w.StartArray();
      domain::pager<std::string> pager(page.limit);
      for (std::size_t i = first; i < ranked.size(); ++i) {
        if (!pager.room()) break;
        const auto* e = ranked[i];
        w.StartObject();
        w.Key("host");
        domain::write_string(w, e->key);
        w.Key("registrable_domain");
        domain::write_string(w, domain::registrable_domain(e->key));
        w.Key("visits");
        w.Uint64(e->count);
        w.Key("visits_overcount");
        w.Uint64(e->error);
        w.Key("visits_with_session");
        w.Uint64(e->data.with_session);
        w.Key("landing_hosts");
        w.StartArray();
        for (const auto& l : e->data.landing_hosts)
          if (!l.empty()) domain::write_string(w, l);
        w.EndArray();
        w.Key("more_landing_hosts");
        w.Bool(e->data.more_landing_hosts);
        w.Key("first_seen");
        w.Int64(e->data.first_seen);
        w.Key("last_seen");
        w.Int64(e->data.last_seen);
        write_suggestion(w, domain::suggest_for_host(e->key, e->count, e->data, settings));
        w.EndObject();
        pager.wrote(e->key);
      }
      w.EndArray();
      w.Key("unknown_mediums");
      w.StartArray();
      for (const auto* m : all.mediums.ranked()) {
        w.StartObject();
        w.Key("utm_medium");
        domain::write_string(w, m->key);
        w.Key("visits");
        w.Uint64(m->count);
        write_suggestion(w, domain::suggest_for_medium(m->key, m->count, settings));
        w.EndObject();
      }
      w.EndArray();
      pager.finish(w);
      w.EndObject();
    });
  }
  return success(200, body);
}

}  // namespace

}  // namespace referrald::http
