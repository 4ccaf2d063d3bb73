#include "domain/insights/day_insights.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace referrald::domain {

namespace {

std::size_t reason_index_of(std::string_view reason) {
  auto all = all_reasons();
  // The reasons' own constants first (no comparison of their text), then the text.
  for (std::size_t i = 0; i < all.size(); ++i)
    if (all[i].data() == reason.data()) return i;
  return static_cast<std::size_t>(std::find(all.begin(), all.end(), reason) - all.begin());
}

}  // namespace

// A reason's place in all_reasons(), found by the address of the reason's constant in a
// table made once (the constants are the same few addresses in every resolution).
std::uint8_t reason_index(std::string_view reason) {
  struct place {
    const char* at = nullptr;
    std::size_t size = 0;
    std::uint8_t index = 0;
  };
  // Open addressing: a constant whose place is taken goes to the next free one.
  static constexpr std::size_t k_places = 64;
  auto first_place = [](const char* at) {
    auto a = reinterpret_cast<std::uintptr_t>(at);
    return (a >> 3 ^ a >> 9) % k_places;
  };
  static const auto table = [&] {
    std::array<place, k_places> t{};
    for (auto r : all_reasons()) {
      auto i = first_place(r.data());
      while (t[i].at != nullptr)
        i = (i + 1) % k_places;
      t[i] = {r.data(), r.size(), static_cast<std::uint8_t>(reason_index_of(r))};
    }
    return t;
  }();
  for (auto i = first_place(reason.data()); table[i].at != nullptr; i = (i + 1) % k_places)
    if (table[i].at == reason.data() && table[i].size == reason.size()) return table[i].index;
  return static_cast<std::uint8_t>(reason_index_of(reason));
}

namespace {

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

namespace {

// splitmix64's finalizer over a rule's id and kind.
std::uint64_t rule_hash(rule_ref r) {
  auto h = static_cast<std::uint64_t>(r.id) * 4 + static_cast<std::uint64_t>(r.type);
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

}  // namespace

void rule_counts::grow_for(std::size_t more) {
  if ((size_ + more) * 2 <= slots_.size()) return;
  std::vector<slot> old = std::move(slots_);
  auto n = std::max<std::size_t>(16, old.size() * 2);
  while ((size_ + more) * 2 > n)
    n *= 2;
  slots_.assign(n, slot{});
  for (const auto& s : old)
    if (s.used) slots_[probe({s.type, s.id})] = s;
}

std::size_t rule_counts::probe(rule_ref r) const {
  std::size_t mask = slots_.size() - 1;
  for (std::size_t k = rule_hash(r) & mask;; k = (k + 1) & mask) {
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
  grow_for(1);
  auto& s = slots_[probe(r)];
  if (!s.used) {
    s = slot{r.id, 0, r.type, true};
    ++size_;
  }
  s.count += n;
}

void rule_counts::settle_pending() {
  // First the counters' places (the arrays grown as needed, the table made room in for the
  // run's rules not in them) and a fetch of each, then the counts: the run's cache misses
  // overlap instead of following one another.
  std::size_t hashed = 0;
  for (std::size_t k = 0; k < pending_size_; ++k)
    hashed += in_array(pending_[k]) ? 0 : 1;
  if (hashed > 0) grow_for(hashed);
  for (std::size_t k = 0; k < pending_size_; ++k) {
    rule_ref r = pending_[k];
    if (!in_array(r)) {
      __builtin_prefetch(&slots_[rule_hash(r) & (slots_.size() - 1)], 1);
      continue;
    }
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

void day_insights::record(const counted& c, unix_ms at) {
  ++resolutions;
  count_reason(reason_index(c.reason));
  count_channel(c.channel);
  count_rules(c);
  if (c.falls_through) count_fall_through(c, at);
}

void day_insights::count_fall_through(const counted& c, unix_ms at) {
  if (!c.referrer_host.empty()) hosts.add(c.referrer_host).data.seen(c.session, c.landing_host, at);
  if (!c.medium.empty()) {
    auto& m = mediums.add(c.medium).data;
    seen_at(m.first_seen, m.last_seen, at);
  }
}

void day_insights::count_channel(std::string_view channel, std::uint64_t n) {
  // A day counts a few channels (the default group's and the channel rules' names) again and
  // again, from a resolution or from a copy written down (actors/insights_collector): the
  // place of a name is found from its length and first and last bytes, without a search.
  std::uint64_t head = 0, tail = 0;
  if (!channel.empty()) {
    auto k = std::min<std::size_t>(channel.size(), 8);
    std::memcpy(&head, channel.data(), k);
    std::memcpy(&tail, channel.data() + channel.size() - k, k);
  }
  auto place = ((head ^ (tail * 0xff51afd7ed558ccdu) ^ channel.size()) * 0x9e3779b97f4a7c15u) >>
               60;  // of 16
  auto& c = recent_channels_.kept[place % recent_channels_.kept.size()];
  if (c.count != nullptr && same_bytes(c.name, channel)) {
    *c.count += n;
    return;
  }
  // A map's elements stay where they are while it lives: its key and count are kept.
  auto it = count_name(by_channel, channel, n);
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
