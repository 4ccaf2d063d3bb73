#pragma once

// What the live resolutions of one account said on one day (UTC) (docs/insights.md): how
// many there were, by reason, by channel and by the rule that decided, and the fall-through
// answers — a plain referral, or the channel "Unassigned" — by referrer host, with the
// utm_medium values the default channel group did not know. Hosts and mediums are kept in
// summaries of fixed size (heavy_hitters.hpp), the names of channels and rules up to a fixed
// number each: a day's memory is bounded whatever arrives. Hosts and counts only: never a
// URL's path or query, never a visitor's identifier.
//
// One owner: not thread-safe. Counted per thread and merged (merge()) where they are kept.

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/attribution/resolution.hpp"
#include "domain/attribution/visit.hpp"
#include "domain/base/clock.hpp"
#include "domain/insights/heavy_hitters.hpp"

namespace referrald::domain {

// What is kept of a fall-through referrer host besides its count.
struct host_stats {
  static constexpr std::size_t k_landing_hosts = 4;
  // Visits that carried an active session (the visit's `session`): the signature of a page
  // between two pages of the same visit (payment, 3-D Secure, booking, sign-in).
  std::uint64_t with_session = 0;
  unix_ms first_seen = 0, last_seen = 0;
  // The first distinct landing hosts its visits arrived on; `more_landing_hosts` when there
  // were others.
  std::array<std::string, k_landing_hosts> landing_hosts{};
  bool more_landing_hosts = false;

  void seen(bool session, std::string_view landing_host, unix_ms at);
  void merge(const host_stats& other);
  void clear();  // keeps the landing hosts' storage
};

// What is kept of an utm_medium value the default channel group did not know.
struct medium_stats {
  unix_ms first_seen = 0, last_seen = 0;
  void merge(const medium_stats& other);
  void clear() { *this = {}; }
};

// A rule by kind and id.
struct rule_ref {
  enum class kind : std::uint8_t { passthrough = 0, mapping = 1, channel_rule = 2 };
  kind type = kind::passthrough;
  std::int64_t id = 0;
  auto operator<=>(const rule_ref&) const = default;
};
std::string_view kind_name(rule_ref::kind k);  // "passthrough", "mapping", "channel_rule"

// Counts by rule, each found in one probe of an open-addressing table: an account may hold
// thousands of rules, and a tree of them would cost a cache miss per level on every
// resolution counted. Dense counts (a thread's own between two merges, when its log is
// full) keep the ids below k_dense in an array per kind, indexed by id: rule ids are given
// in sequence per account, so the array is about as long as the account's rules and a
// count is one read of it.
//
// count() defers a count of one to a short run of pending rules, which is settled in one
// pass that fetches every counter of the run ahead of adding to it: with thousands of rules
// a rule's counter has usually left the cache since it was last counted, and a run waits
// for its counters' memory once rather than once per rule (the table is made room in for
// the run first, so that no counter moves after it was fetched). Every reader settles first.
class rule_counts {
 public:
  static constexpr std::int64_t k_dense = 1 << 16;
  static constexpr std::size_t k_pending = 64;
  rule_counts() = default;
  explicit rule_counts(bool dense) : dense_(dense) {}

  void add(rule_ref r, std::uint64_t n = 1);  // n = 0 counts nothing
  // Counts one of `r`, settled by the next reader or once k_pending are pending.
  void count(rule_ref r) {
    pending_[pending_size_++] = r;
    if (pending_size_ == k_pending) settle();
  }
  std::uint64_t at(rule_ref r) const;  // 0 when not counted
  std::size_t size() const {
    settle();
    return size_;
  }
  bool empty() const { return size() == 0; }
  // Every rule counted and its count, by kind then id.
  std::vector<std::pair<rule_ref, std::uint64_t>> sorted() const;
  bool operator==(const rule_counts& other) const { return sorted() == other.sorted(); }

 private:
  struct slot {
    std::int64_t id = 0;
    std::uint64_t count = 0;
    rule_ref::kind type = rule_ref::kind::passthrough;
    bool used = false;
  };
  std::size_t probe(rule_ref r) const;  // its slot, or the free slot where it would go
  void grow_for(std::size_t more);      // the table's room for `more` rules not counted yet
  bool in_array(rule_ref r) const { return dense_ && r.id > 0 && r.id < k_dense; }
  // Adds the pending counts (logically const: what the counts are does not change).
  void settle() const {
    if (pending_size_ != 0) const_cast<rule_counts*>(this)->settle_pending();
  }
  void settle_pending();
  bool dense_ = false;
  std::array<std::vector<std::uint64_t>, 3> by_id_;  // by kind; 0: not counted
  std::vector<slot> slots_;
  std::size_t size_ = 0;
  std::array<rule_ref, k_pending> pending_{};
  std::size_t pending_size_ = 0;
};

// What one resolution counts, taken from its visit and its answer (what_counts()): views
// into both, so that it can be written down and counted later (actors/insights_collector).
// (No member initializers: what_counts() sets each, and zeroing the whole first cost more
// than the rest of it on a thread that resolves; `counted c{}` for one set by hand.)
struct counted {
  std::string_view reason;  // the answer's (reason_index() finds its place where counted)
  bool has_rule;            // the rule of the answer (a passthrough referrer or a mapping)
  bool has_channel_rule;
  bool falls_through;  // falls_through() of the answer
  bool session;        // the visit carried an active session
  rule_ref::kind rule_kind;
  std::int64_t rule_id, channel_rule_id;
  std::string_view channel;
  // Of a fall-through answer only: the visit's referrer and landing hosts, and the
  // utm_medium the default channel group did not know (empty: none).
  std::string_view referrer_host, landing_host, medium;
};
inline counted what_counts(const visit& v, const resolution& r);

struct day_insights {
  // The sizes that bound a day's memory: hosts and mediums kept by the summaries, names of
  // channels counted apart (past them, under k_other), and of rules.
  static constexpr std::size_t k_hosts = 500;
  static constexpr std::size_t k_mediums = 100;
  static constexpr std::size_t k_names = 1000;
  static constexpr std::string_view k_other = "(other)";
  static constexpr std::size_t k_reasons = 10;  // all_reasons()
  // The hosts a thread keeps between two merges (insights_collector.hpp, when its log is
  // full): more than a day's, so that most hosts counted are found already kept.
  static constexpr std::size_t k_thread_hosts = 512;

  day_insights() = default;
  // Counters between two merges (actors/insights_collector.hpp): k_thread_hosts hosts,
  // dense rule counts.
  static day_insights for_thread() { return day_insights(k_thread_hosts, true); }

  std::int64_t day = 0;  // days since 1970-01-01 (UTC)
  std::uint64_t resolutions = 0;
  std::array<std::uint64_t, k_reasons> by_reason{};  // in all_reasons() order
  std::map<std::string, std::uint64_t, std::less<>> by_channel;
  // The rule of the answer (a passthrough referrer or a mapping) and the channel rule.
  rule_counts by_rule;
  heavy_hitters<host_stats> hosts{k_hosts};
  heavy_hitters<medium_stats> mediums{k_mediums};

  // Counts one resolution `r` of visit `v`, resolved at `at`. What it counts is read with
  // the day's members (by_rule settles its pending counts when read).
  void record(const visit& v, const resolution& r, unix_ms at) { record(what_counts(v, r), at); }
  void record(const counted& c, unix_ms at);
  // record()'s parts, for a run of resolutions counted in parts (actors/insights_collector:
  // a run's reasons and channels added up first): `n` of a reason (its place in
  // all_reasons(); past them: none) or of a channel; the rules and what a fall-through
  // answer counts of one resolution.
  void count_reason(std::uint8_t reason, std::uint64_t n = 1) {
    if (reason < by_reason.size()) by_reason[reason] += n;
  }
  void count_channel(std::string_view channel, std::uint64_t n = 1);
  void count_rules(const counted& c) {
    if (c.has_rule) by_rule.count({c.rule_kind, c.rule_id});
    if (c.has_channel_rule) by_rule.count({rule_ref::kind::channel_rule, c.channel_rule_id});
  }
  void count_fall_through(const counted& c, unix_ms at);
  void merge(const day_insights& other);

 private:
  day_insights(std::size_t hosts_kept, bool dense_rules)
      : by_rule(dense_rules), hosts(hosts_kept) {}

  // Channels counted and their counts in by_channel, by the length and first and last bytes of the
  // name counted (count_channel); a copy or a move of the day starts without.
  struct recent {
    struct one {
      std::string_view name;
      std::uint64_t* count = nullptr;
    };
    std::array<one, 16> kept{};
    recent() = default;
    recent(const recent&) {}
    recent& operator=(const recent&) {
      kept = {};
      return *this;
    }
  };
  recent recent_channels_;
};

// The day (days since 1970-01-01, UTC) of a time.
std::int64_t day_of(unix_ms at);

inline constexpr std::string_view k_unassigned_channel = "Unassigned";

// Whether a resolution fell through the rules and lists: a plain referral, or the channel
// "Unassigned".
inline bool falls_through(const resolution& r) {
  return same_bytes(r.reason, reasons::referral) || same_bytes(r.channel, k_unassigned_channel);
}

// A reason's place in all_reasons() (their number: none of them), found by the address of
// the reason's constant (the same few addresses in every resolution).
std::uint8_t reason_index(std::string_view reason);

// In the header: a thread that resolves calls it for every resolution counted, and most of
// what it sets is read again at once (actors/insights_collector.cpp).
inline counted what_counts(const visit& v, const resolution& r) {
  counted c;  // every member set below
  c.reason = r.reason;
  c.channel = r.channel;
  c.has_rule = false;
  c.rule_kind = rule_ref::kind::passthrough;
  c.rule_id = 0;
  if (same_bytes(r.rule_type, "passthrough")) {
    c.has_rule = true;
    c.rule_id = r.rule_id;
  } else if (same_bytes(r.rule_type, "mapping")) {
    c.has_rule = true;
    c.rule_kind = rule_ref::kind::mapping;
    c.rule_id = r.rule_id;
  }
  c.has_channel_rule = r.channel_rule != nullptr;
  c.channel_rule_id = c.has_channel_rule ? r.channel_rule->id : 0;
  c.falls_through = falls_through(r);
  if (!c.falls_through) {
    // Each set apart: a chain of assignments reads back each view as it is written, which
    // waits on the store of its two halves.
    c.session = false;
    c.referrer_host = {};
    c.landing_host = {};
    c.medium = {};
    return c;
  }
  c.session = v.session.has_value();
  c.referrer_host = v.referrer_host;
  c.landing_host = v.landing_host;
  c.medium = same_bytes(r.reason, reasons::utm) && same_bytes(r.channel, k_unassigned_channel)
                 ? std::string_view(r.utms.medium)
                 : std::string_view();
  return c;
}

}  // namespace referrald::domain
