#pragma once

// What insights keeps (docs/insights.md): for each account that had live resolutions, one
// day_insights per day (UTC) for the last `days_kept` days, merged from the counters of the
// threads that resolved; and the stored form of a day.
//
// Stored form of one account-day (the value of its record, docs/storage.md):
//
//   day_record  := version:u8(=1) day:varint resolutions:varint
//                  reasons:varint (name:lpstr count:varint)*
//                  channels:varint (name:lpstr count:varint)*
//                  rules:varint (kind:u8 id:varint count:varint)*
//                  hosts:summary(host) mediums:summary(medium) crc32c:fixed32
//   summary(P)  := evictions:varint entries:varint (key:lpstr count:varint error:varint P)*
//   host        := with_session:varint first_seen:varint last_seen:varint
//                  landing:varint (landing_host:lpstr)* more_landing_hosts:u8
//   medium      := first_seen:varint last_seen:varint
//
// Reasons are stored by name, so that a reason added later reads as nothing in an older
// release's counts and never shifts the others. One owner: not thread-safe.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/base/result.hpp"
#include "domain/insights/day_insights.hpp"

namespace referrald::domain {

class insights_book {
 public:
  static constexpr std::size_t k_default_days = 35;

  explicit insights_book(std::size_t days_kept = k_default_days) : days_kept_(days_kept) {}

  // Takes `counted` (one account's counts of one day) in, merged with what the day holds.
  void add(const std::string& account, const day_insights& counted);
  // The account's day `day`, made if it is not kept, to count into; marked changed.
  day_insights& counting(std::string_view account, std::int64_t day);
  // Forgets the days before the last days_kept ones up to `today`; the (account, day)
  // pairs forgotten, for their records to go too.
  std::vector<std::pair<std::string, std::int64_t>> prune(std::int64_t today);
  // Forgets an account (its counting was turned off).
  void erase(std::string_view account);

  // The account's days from `from` to `to` (both included), oldest first.
  std::vector<const day_insights*> days(std::string_view account, std::int64_t from,
                                        std::int64_t to) const;
  std::vector<std::string> accounts() const;
  std::size_t days_kept() const { return days_kept_; }

  // The (account, day) pairs changed since the last call, and no longer marked.
  std::vector<std::pair<std::string, std::int64_t>> take_changed();
  // Marks them changed again (a write of them that failed), those still kept.
  void changed_again(const std::vector<std::pair<std::string, std::int64_t>>& days);
  const day_insights* day(std::string_view account, std::int64_t day) const;
  // A stored day read back (restore at start).
  void restore(const std::string& account, day_insights d);

 private:
  std::size_t days_kept_;
  std::map<std::string, std::map<std::int64_t, day_insights>, std::less<>> accounts_;
  std::map<std::pair<std::string, std::int64_t>, bool> changed_;
};

std::string encode_day(const day_insights& d);
// store_corrupted naming what does not read; a version past 1 is a newer release's.
result<day_insights> decode_day(std::string_view value);

// A node's days sent to another node (a read of every node's counts, docs/insights.md
// "Cluster"): the days' count, then each day's stored form with its length.
std::string encode_days(const std::vector<const day_insights*>& days);
// store_corrupted naming what does not read.
result<std::vector<day_insights>> decode_days(std::string_view value);

}  // namespace referrald::domain
