#pragma once

// AI-referral reports: sums of pageviews, sessions, transactions and purchase_revenue
// over a brand's rows in a date range, optionally per platform, date or page.
//
// Nulls are not zeros: a null metric is left out of its sum, and a sum over rows that all
// have null for a metric is null (so "no data" is never shown as 0). `rows` counts the
// rows in a group whatever their nulls. Integer sums saturate at 2^64-1.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace referrald::domain {

// date_platform ("date,platform"): one group per day and platform, keyed "YYYY-MM-DD platform"
// and shown with both "date" and "platform" (a stacked chart's series).
enum class report_grouping : std::uint8_t { none, platform, date, page, date_platform };

std::optional<report_grouping> report_grouping_from_string(std::string_view s);
std::string_view to_string(report_grouping g);

// The metrics of one row (null = absent).
struct row_metrics {
  std::optional<std::int64_t> pageviews;
  std::optional<std::int64_t> sessions;
  std::optional<std::int64_t> transactions;
  std::optional<double> purchase_revenue;
};

struct metric_sums {
  std::uint64_t rows = 0;
  std::optional<std::uint64_t> pageviews;
  std::optional<std::uint64_t> sessions;
  std::optional<std::uint64_t> transactions;
  std::optional<double> purchase_revenue;

  void add(const row_metrics& m);
};

// A page of a report's groups (report_builder::json).
struct report_page {
  std::size_t limit = 100;
  std::string starting_after;
};

// Sums rows into totals and, grouped, into the groups of one page: only the first
// `page.limit` + 1 keys after `page.starting_after` are kept (a key past them is counted in
// the totals only), so a page costs one pass over the rows and memory for one page.
class report_builder {
 public:
  explicit report_builder(report_grouping g, report_page page = {})
      : grouping_(g), page_(std::move(page)) {}

  // `date` is days since 1970-01-01.
  void add(std::int64_t date, std::string_view platform, std::string_view page,
           const row_metrics& m);

  // {"brand_id":..,"from":..,"to":..,"connection_id":..|null,"group_by":..|null,
  //  "groups":[{"<group_by>":key,"rows":..,"pageviews":..,...}] (when grouped),
  //  "has_more":..,"next_starting_after":..,"totals":{"rows":..,"pageviews":..,...}};
  //  groups in key order; totals cover every group, not only the page's.
  // Grouped, the page's groups (at most `limit`, with keys after `starting_after`), with
  // "has_more" and "next_starting_after" (the last key shown, or null).
  std::string json(std::int64_t brand_id, std::string_view from, std::string_view to,
                   const std::optional<std::string>& connection_id) const;

 private:
  void add_to_group(std::string key, const row_metrics& m);

  report_grouping grouping_;
  report_page page_;
  std::map<std::string, metric_sums, std::less<>> groups_;
  std::optional<std::string> ceiling_;  // the smallest key dropped from the page
  metric_sums totals_;
};

}  // namespace referrald::domain
