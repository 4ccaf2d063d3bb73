#include "domain/insights/day_insights.hpp"

#include <algorithm>
#include <utility>

namespace referrald::domain {

namespace {

constexpr std::string_view k_unassigned = "Unassigned";

std::size_t reason_index_of(std::string_view reason) {
  auto all = all_reasons();
  // The reasons' own constants first (no comparison of their text), then the text.
  for (std::size_t i = 0; i < all.size(); ++i)
    if (all[i].data() == reason.data()) return i;
  return static_cast<std::size_t>(std::find(all.begin(), all.end(), reason) - all.begin());
}

// A reason's place in all_reasons(), found by the address of the reason's constant in a
// table made once (the constants are the same few addresses in every resolution).
std::size_t reason_index(std::string_view reason) {
  struct place {
    const char* at = nullptr;
    std::size_t size = 0;
    std::size_t index = 0;
  };
  static const auto table = [] {
    std::array<place, 32> t{};
    for (auto r : all_reasons()) {
      auto a = reinterpret_cast<std::uintptr_t>(r.data());
      t[(a >> 3 ^ a >> 8) % t.size()] = {r.data(), r.size(), reason_index_of(r)};
    }
    return t;
  }();
  auto a = reinterpret_cast<std::uintptr_t>(reason.data());
  const auto& p = table[(a >> 3 ^ a >> 8) % table.size()];
  if (p.at == reason.data() && p.size == reason.size()) return p.index;
  return reason_index_of(reason);
}

void seen_at(unix_ms& first, unix_ms& last, unix_ms at) {
  if (first == 0 || at < first) first = at;
  last = std::max(last, at);
}

void merge_seen(unix_ms& first, unix_ms& last, unix_ms other_first, unix_ms other_last) {
  if (other_first != 0 && (first == 0 || other_first < first)) first = other_first;
  last = std::max(last, other_last);
}

using name_counts = std::map<std::string, std::uint64_t, std::less<>>;

// Counts `n` under `name`, or under k_other once `names` holds its most; where.
name_counts::iterator count_name(name_counts& names, std::string_view name, std::uint64_t n) {
  auto it = names.find(name);
  if (it == names.end()) {
    if (names.size() + 1 >= day_insights::k_names) name = day_insights::k_other;
    it = names.try_emplace(std::string(name), 0).first;
  }
  it->second += n;
  return it;
}

void add_landing_host(host_stats& s, std::string_view host) {
  if (host.empty()) return;
  for (auto& h : s.landing_hosts) {
    if (same_bytes(h, host)) return;
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

std::size_t rule_counts::probe(rule_ref r) const {
  // splitmix64's finalizer over the id and the kind.
  auto h = static_cast<std::uint64_t>(r.id) * 4 + static_cast<std::uint64_t>(r.type);
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
  h ^= h >> 31;
  std::size_t mask = slots_.size() - 1;
  for (std::size_t k = h & mask;; k = (k + 1) & mask) {
    const auto& s = slots_[k];
    if (!s.used || (s.id == r.id && s.type == r.type)) return k;
  }
}

void rule_counts::add(rule_ref r, std::uint64_t n) {
  if (n == 0) return;
  if (in_array(r)) {
    auto& counts = by_id_[static_cast<std::size_t>(r.type)];
    auto i = static_cast<std::size_t>(r.id);
    if (i >= counts.size()) {
      counts.resize(
          std::min<std::size_t>(k_dense, std::max<std::size_t>(i + 1, counts.size() * 2)));
    }
    if (counts[i] == 0) ++size_;
    counts[i] += n;
    return;
  }
  if ((size_ + 1) * 2 > slots_.size()) {
    std::vector<slot> old = std::move(slots_);
    slots_.assign(std::max<std::size_t>(16, old.size() * 2), slot{});
    for (const auto& s : old)
      if (s.used) slots_[probe({s.type, s.id})] = s;
  }
  auto& s = slots_[probe(r)];
  if (!s.used) {
    s = slot{r.id, 0, r.type, true};
    ++size_;
  }
  s.count += n;
}

void rule_counts::settle_pending() {
  // First the counters' places (the arrays grown as needed) and a fetch of each, then the
  // counts: the run's cache misses overlap instead of following one another.
  for (std::size_t k = 0; k < pending_size_; ++k) {
    rule_ref r = pending_[k];
    if (!in_array(r)) continue;
    auto& counts = by_id_[static_cast<std::size_t>(r.type)];
    auto i = static_cast<std::size_t>(r.id);
    if (i >= counts.size()) {
      counts.resize(
          std::min<std::size_t>(k_dense, std::max<std::size_t>(i + 1, counts.size() * 2)));
    }
    __builtin_prefetch(&counts[i], 1);
  }
  std::size_t n = std::exchange(pending_size_, 0);
  for (std::size_t k = 0; k < n; ++k)
    add(pending_[k]);
}

std::uint64_t rule_counts::at(rule_ref r) const {
  settle();
  if (in_array(r)) {
    const auto& counts = by_id_[static_cast<std::size_t>(r.type)];
    auto i = static_cast<std::size_t>(r.id);
    return i < counts.size() ? counts[i] : 0;
  }
  if (slots_.empty()) return 0;
  const auto& s = slots_[probe(r)];
  return s.used ? s.count : 0;
}

std::vector<std::pair<rule_ref, std::uint64_t>> rule_counts::sorted() const {
  settle();
  std::vector<std::pair<rule_ref, std::uint64_t>> out;
  out.reserve(size_);
  for (std::size_t k = 0; k < by_id_.size(); ++k) {
    for (std::size_t i = 0; i < by_id_[k].size(); ++i) {
      if (by_id_[k][i] != 0) {
        out.push_back(
            {rule_ref{static_cast<rule_ref::kind>(k), static_cast<std::int64_t>(i)}, by_id_[k][i]});
      }
    }
  }
  for (const auto& s : slots_)
    if (s.used) out.push_back({rule_ref{s.type, s.id}, s.count});
  std::sort(out.begin(), out.end());
  return out;
}

std::int64_t day_of(unix_ms at) {
  constexpr std::int64_t k_day = 86'400'000;
  return at >= 0 ? at / k_day : -((-at + k_day - 1) / k_day);
}

bool falls_through(const resolution& r) {
  return same_bytes(r.reason, reasons::referral) || same_bytes(r.channel, k_unassigned);
}

void host_stats::seen(bool session, std::string_view landing_host, unix_ms at) {
  if (session) ++with_session;
  seen_at(first_seen, last_seen, at);
  add_landing_host(*this, landing_host);
}

void host_stats::merge(const host_stats& other) {
  with_session += other.with_session;
  merge_seen(first_seen, last_seen, other.first_seen, other.last_seen);
  for (const auto& h : other.landing_hosts)
    add_landing_host(*this, h);
  more_landing_hosts = more_landing_hosts || other.more_landing_hosts;
}

void host_stats::clear() {
  with_session = 0;
  first_seen = last_seen = 0;
  for (auto& h : landing_hosts)
    h.clear();
  more_landing_hosts = false;
}

void medium_stats::merge(const medium_stats& other) {
  merge_seen(first_seen, last_seen, other.first_seen, other.last_seen);
}

counted what_counts(const visit& v, const resolution& r) {
  counted c;  // every member set below
  c.reason = static_cast<std::uint8_t>(reason_index(r.reason));
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
    c.session = false;
    c.referrer_host = c.landing_host = c.medium = {};
    return c;
  }
  c.session = v.session.has_value();
  c.referrer_host = v.referrer_host;
  c.landing_host = v.landing_host;
  c.medium = same_bytes(r.reason, reasons::utm) && same_bytes(r.channel, k_unassigned)
                 ? std::string_view(r.utms.medium)
                 : std::string_view();
  return c;
}

void day_insights::record(const counted& c, unix_ms at) {
  ++resolutions;
  if (c.reason < by_reason.size()) ++by_reason[c.reason];
  count_channel(c.channel);
  if (c.has_rule) by_rule.count({c.rule_kind, c.rule_id});
  if (c.has_channel_rule) by_rule.count({rule_ref::kind::channel_rule, c.channel_rule_id});
  if (!c.falls_through) return;
  if (!c.referrer_host.empty()) hosts.add(c.referrer_host).data.seen(c.session, c.landing_host, at);
  if (!c.medium.empty()) {
    auto& m = mediums.add(c.medium).data;
    seen_at(m.first_seen, m.last_seen, at);
  }
}

void day_insights::count_channel(std::string_view channel) {
  // A channel's name is one of the default group's constants or a channel rule's name: the
  // same few addresses come again, so the place by address is found without a search (and
  // the name still compared, since another text may come at an address later).
  auto at = reinterpret_cast<std::uintptr_t>(channel.data());
  auto& c = recent_channels_.kept[(at >> 3 ^ at >> 9) % recent_channels_.kept.size()];
  if (c.count != nullptr && same_bytes(c.name, channel)) {
    ++*c.count;
    return;
  }
  // A map's elements stay where they are while it lives: its key and count are kept.
  auto it = count_name(by_channel, channel, 1);
  c.name = it->first;
  c.count = &it->second;
}

void day_insights::merge(const day_insights& other) {
  resolutions += other.resolutions;
  for (std::size_t i = 0; i < by_reason.size(); ++i)
    by_reason[i] += other.by_reason[i];
  for (const auto& [name, n] : other.by_channel)
    count_name(by_channel, name, n);
  for (const auto& [rule, n] : other.by_rule.sorted())
    by_rule.add(rule, n);
  hosts.merge(other.hosts);
  mediums.merge(other.mediums);
}

}  // namespace referrald::domain
