#include "domain/insights/day_insights.hpp"

#include <algorithm>
#include <utility>

namespace referrald::domain {

namespace {

constexpr std::string_view k_unassigned = "Unassigned";

std::size_t reason_index(std::string_view reason) {
  auto all = all_reasons();
  return static_cast<std::size_t>(std::find(all.begin(), all.end(), reason) - all.begin());
}

void seen_at(unix_ms& first, unix_ms& last, unix_ms at) {
  if (first == 0 || at < first) first = at;
  last = std::max(last, at);
}

void merge_seen(unix_ms& first, unix_ms& last, unix_ms other_first, unix_ms other_last) {
  if (other_first != 0 && (first == 0 || other_first < first)) first = other_first;
  last = std::max(last, other_last);
}

// Counts `n` under `name`, or under k_other once `names` holds its most.
void count_name(std::map<std::string, std::uint64_t, std::less<>>& names, std::string_view name,
                std::uint64_t n) {
  if (auto it = names.find(name); it != names.end()) {
    it->second += n;
    return;
  }
  if (names.size() + 1 >= day_insights::k_names) name = day_insights::k_other;
  names[std::string(name)] += n;
}

void add_landing_host(host_stats& s, std::string_view host) {
  if (host.empty()) return;
  for (auto& h : s.landing_hosts) {
    if (h == host) return;
    if (h.empty()) {
      h = host;
      return;
    }
  }
  s.more_landing_hosts = true;
}

}  // namespace

std::string_view kind_name(rule_ref::kind k) {
  switch (k) {
    case rule_ref::kind::passthrough:
      return "passthrough";
    case rule_ref::kind::mapping:
      return "mapping";
    case rule_ref::kind::channel_rule:
      return "channel_rule";
  }
  return "passthrough";
}

std::int64_t day_of(unix_ms at) {
  constexpr std::int64_t k_day = 86'400'000;
  return at >= 0 ? at / k_day : -((-at + k_day - 1) / k_day);
}

bool falls_through(const resolution& r) {
  return r.reason == reasons::referral || r.channel == k_unassigned;
}

void host_stats::seen(const visit& v, unix_ms at) {
  if (v.session) ++with_session;
  seen_at(first_seen, last_seen, at);
  add_landing_host(*this, v.landing_host);
}

void host_stats::merge(const host_stats& other) {
  with_session += other.with_session;
  merge_seen(first_seen, last_seen, other.first_seen, other.last_seen);
  for (const auto& h : other.landing_hosts)
    add_landing_host(*this, h);
  more_landing_hosts = more_landing_hosts || other.more_landing_hosts;
}

void medium_stats::merge(const medium_stats& other) {
  merge_seen(first_seen, last_seen, other.first_seen, other.last_seen);
}

void day_insights::record(const visit& v, const resolution& r, unix_ms at) {
  ++resolutions;
  if (auto i = reason_index(r.reason); i < by_reason.size()) ++by_reason[i];
  count_name(by_channel, r.channel, 1);
  if (r.rule_type == "passthrough") ++by_rule[{rule_ref::kind::passthrough, r.rule_id}];
  if (r.rule_type == "mapping") ++by_rule[{rule_ref::kind::mapping, r.rule_id}];
  if (r.channel_rule != nullptr) ++by_rule[{rule_ref::kind::channel_rule, r.channel_rule->id}];
  if (!falls_through(r)) return;
  if (!v.referrer_host.empty()) hosts.add(v.referrer_host).data.seen(v, at);
  if (r.reason == reasons::utm && r.channel == k_unassigned && !r.utms.medium.empty()) {
    auto& m = mediums.add(r.utms.medium).data;
    seen_at(m.first_seen, m.last_seen, at);
  }
}

void day_insights::merge(const day_insights& other) {
  resolutions += other.resolutions;
  for (std::size_t i = 0; i < by_reason.size(); ++i)
    by_reason[i] += other.by_reason[i];
  for (const auto& [name, n] : other.by_channel)
    count_name(by_channel, name, n);
  for (const auto& [rule, n] : other.by_rule)
    by_rule[rule] += n;
  hosts.merge(other.hosts);
  mediums.merge(other.mediums);
}

}  // namespace referrald::domain
