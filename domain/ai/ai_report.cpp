#include "domain/ai/ai_report.hpp"

#include "domain/base/pager.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <limits>

#include "domain/base/clock.hpp"
#include "domain/base/json.hpp"

namespace referrald::domain {

namespace {

void add_count(std::optional<std::uint64_t>& sum, const std::optional<std::int64_t>& v) {
  if (!v) return;
  auto x = static_cast<std::uint64_t>(*v);
  std::uint64_t s = sum.value_or(0);
  sum = s > std::numeric_limits<std::uint64_t>::max() - x
            ? std::numeric_limits<std::uint64_t>::max()
            : s + x;
}

void write_sums(json_writer& w, const metric_sums& s) {
  w.Key("rows");
  w.Uint64(s.rows);
  auto count = [&](const char* key, const std::optional<std::uint64_t>& v) {
    w.Key(key);
    if (v) {
      w.Uint64(*v);
    } else {
      w.Null();
    }
  };
  count("pageviews", s.pageviews);
  count("sessions", s.sessions);
  count("transactions", s.transactions);
  w.Key("purchase_revenue");
  if (s.purchase_revenue) {
    w.Double(*s.purchase_revenue);
  } else {
    w.Null();
  }
}

}  // namespace

std::optional<report_grouping> report_grouping_from_string(std::string_view s) {
  if (s == "platform") return report_grouping::platform;
  if (s == "date") return report_grouping::date;
  if (s == "page") return report_grouping::page;
  if (s == "date,platform") return report_grouping::date_platform;
  return std::nullopt;
}

std::string_view to_string(report_grouping g) {
  switch (g) {
    case report_grouping::none:
      return "none";
    case report_grouping::platform:
      return "platform";
    case report_grouping::date:
      return "date";
    case report_grouping::page:
      return "page";
    case report_grouping::date_platform:
      return "date,platform";
  }
  return "none";
}

void metric_sums::add(const row_metrics& m) {
  ++rows;
  add_count(pageviews, m.pageviews);
  add_count(sessions, m.sessions);
  add_count(transactions, m.transactions);
  if (m.purchase_revenue) purchase_revenue = purchase_revenue.value_or(0.0) + *m.purchase_revenue;
}

void report_builder::add(std::int64_t date, std::string_view platform, std::string_view page,
                         const row_metrics& m) {
  totals_.add(m);
  switch (grouping_) {
    case report_grouping::none:
      return;
    case report_grouping::platform:
      return add_to_group(std::string(platform), m);
    case report_grouping::date:
      return add_to_group(format_date(date), m);
    case report_grouping::page:
      return add_to_group(std::string(page), m);
    case report_grouping::date_platform:
      return add_to_group(format_date(date) + ' ' + std::string(platform), m);
  }
}

void report_builder::add_to_group(std::string key, const row_metrics& m) {
  if (key <= page_.starting_after || (ceiling_ && key >= *ceiling_)) return;
  groups_[std::move(key)].add(m);
  if (groups_.size() > page_.limit + 1) {
    auto last = std::prev(groups_.end());
    ceiling_ = last->first;
    groups_.erase(last);
  }
}

std::string report_builder::json(std::int64_t brand_id, std::string_view from, std::string_view to,
                                 const std::optional<std::string>& connection_id) const {
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  w.StartObject();
  w.Key("brand_id");
  w.Int64(brand_id);
  w.Key("from");
  write_string(w, from);
  w.Key("to");
  write_string(w, to);
  w.Key("connection_id");
  write_nullable(w, connection_id);
  w.Key("group_by");
  if (grouping_ == report_grouping::none) {
    w.Null();
  } else {
    write_string(w, to_string(grouping_));
    w.Key("groups");
    w.StartArray();
    // The builder kept at most limit + 1 groups: one more than the page means more follow.
    pager<std::string> shown(page_.limit);
    for (const auto& [key, sums] : groups_) {
      if (!shown.room()) break;
      w.StartObject();
      if (grouping_ == report_grouping::date_platform) {
        // "YYYY-MM-DD platform"
        write_key(w, "date");
        write_string(w, std::string_view(key).substr(0, 10));
        write_key(w, "platform");
        write_string(w, std::string_view(key).substr(11));
      } else {
        write_key(w, to_string(grouping_));
        write_string(w, key);
      }
      write_sums(w, sums);
      w.EndObject();
      shown.wrote(key);
    }
    w.EndArray();
    shown.finish(w);
  }
  w.Key("totals");
  w.StartObject();
  write_sums(w, totals_);
  w.EndObject();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

}  // namespace referrald::domain
