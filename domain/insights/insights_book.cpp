#include "domain/insights/insights_book.hpp"

#include <algorithm>

#include "domain/base/codec.hpp"
#include "domain/base/digest.hpp"

namespace referrald::domain {

namespace {

constexpr std::uint8_t k_version = 1;

error damaged(std::string_view what) {
  return make_error(errc::store_corrupted,
                    "an insights record cannot be read: " + std::string(what));
}

std::uint64_t stored_time(unix_ms t) { return t < 0 ? 0 : static_cast<std::uint64_t>(t); }

void put_host(std::string& out, const host_stats& h) {
  codec::put_varint(out, h.with_session);
  codec::put_varint(out, stored_time(h.first_seen));
  codec::put_varint(out, stored_time(h.last_seen));
  std::size_t n = 0;
  for (const auto& l : h.landing_hosts)
    n += l.empty() ? 0 : 1;
  codec::put_varint(out, n);
  for (const auto& l : h.landing_hosts)
    if (!l.empty()) codec::put_lpstr(out, l);
  out.push_back(h.more_landing_hosts ? 1 : 0);
}

bool get_time(codec::reader& in, unix_ms& t) {
  std::uint64_t v = 0;
  if (!in.varint(v) || v > static_cast<std::uint64_t>(INT64_MAX)) return false;
  t = static_cast<unix_ms>(v);
  return true;
}

bool get_host(codec::reader& in, host_stats& h) {
  std::uint64_t n = 0;
  std::uint8_t more = 0;
  if (!in.varint(h.with_session) || !get_time(in, h.first_seen) || !get_time(in, h.last_seen) ||
      !in.varint(n) || n > host_stats::k_landing_hosts) {
    return false;
  }
  for (std::size_t i = 0; i < n; ++i)
    if (!in.lpstr(h.landing_hosts[i])) return false;
  if (!in.u8(more) || more > 1) return false;
  h.more_landing_hosts = more == 1;
  return true;
}

void put_medium(std::string& out, const medium_stats& m) {
  codec::put_varint(out, stored_time(m.first_seen));
  codec::put_varint(out, stored_time(m.last_seen));
}

bool get_medium(codec::reader& in, medium_stats& m) {
  return get_time(in, m.first_seen) && get_time(in, m.last_seen);
}

template <class P, class Put>
void put_summary(std::string& out, const heavy_hitters<P>& h, Put put) {
  codec::put_varint(out, h.evictions());
  auto ranked = h.ranked();
  codec::put_varint(out, ranked.size());
  for (const auto* e : ranked) {
    codec::put_lpstr(out, e->key);
    codec::put_varint(out, e->count);
    codec::put_varint(out, e->error);
    put(out, e->data);
  }
}

template <class P, class Get>
bool get_summary(codec::reader& in, heavy_hitters<P>& h, Get get) {
  std::uint64_t evictions = 0, n = 0;
  if (!in.varint(evictions) || !in.varint(n) || n > h.capacity()) return false;
  std::vector<typename heavy_hitters<P>::entry> kept(n);
  for (auto& e : kept) {
    if (!in.lpstr(e.key) || !in.varint(e.count) || !in.varint(e.error) || e.error > e.count ||
        !get(in, e.data)) {
      return false;
    }
  }
  h.restore(std::move(kept), evictions);
  return true;
}

}  // namespace

void insights_book::add(const std::string& account, const day_insights& counted) {
  counting(account, counted.day).merge(counted);
}

day_insights& insights_book::counting(std::string_view account, std::int64_t day) {
  auto a = accounts_.find(account);
  if (a == accounts_.end())
    a = accounts_.emplace(std::string(account), std::map<std::int64_t, day_insights>{}).first;
  auto it = a->second.find(day);
  if (it == a->second.end()) {
    it = a->second.emplace(day, day_insights{}).first;
    it->second.day = day;
  }
  changed_[{a->first, day}] = true;
  return it->second;
}

void insights_book::restore(const std::string& account, day_insights d) {
  auto day = d.day;
  accounts_[account].insert_or_assign(day, std::move(d));
}

std::vector<std::pair<std::string, std::int64_t>> insights_book::prune(std::int64_t today) {
  std::vector<std::pair<std::string, std::int64_t>> gone;
  auto first_kept = today - static_cast<std::int64_t>(days_kept_) + 1;
  for (auto a = accounts_.begin(); a != accounts_.end();) {
    auto& days = a->second;
    for (auto d = days.begin(); d != days.end() && d->first < first_kept;) {
      gone.emplace_back(a->first, d->first);
      changed_.erase({a->first, d->first});
      d = days.erase(d);
    }
    a = days.empty() ? accounts_.erase(a) : std::next(a);
  }
  return gone;
}

void insights_book::erase(std::string_view account) {
  auto it = accounts_.find(account);
  if (it == accounts_.end()) return;
  for (const auto& [day, d] : it->second)
    changed_.erase({it->first, day});
  accounts_.erase(it);
}

std::vector<const day_insights*> insights_book::days(std::string_view account, std::int64_t from,
                                                     std::int64_t to) const {
  std::vector<const day_insights*> out;
  auto it = accounts_.find(account);
  if (it == accounts_.end()) return out;
  for (auto d = it->second.lower_bound(from); d != it->second.end() && d->first <= to; ++d)
    out.push_back(&d->second);
  return out;
}

std::vector<std::string> insights_book::accounts() const {
  std::vector<std::string> out;
  for (const auto& [a, days] : accounts_)
    out.push_back(a);
  return out;
}

std::vector<std::pair<std::string, std::int64_t>> insights_book::take_changed() {
  std::vector<std::pair<std::string, std::int64_t>> out;
  for (const auto& [key, yes] : changed_)
    out.push_back(key);
  changed_.clear();
  return out;
}

void insights_book::changed_again(const std::vector<std::pair<std::string, std::int64_t>>& days) {
  for (const auto& [account, d] : days)
    if (day(account, d) != nullptr) changed_[{account, d}] = true;
}

const day_insights* insights_book::day(std::string_view account, std::int64_t day) const {
  auto it = accounts_.find(account);
  if (it == accounts_.end()) return nullptr;
  auto d = it->second.find(day);
  return d == it->second.end() ? nullptr : &d->second;
}

std::string encode_day(const day_insights& d) {
  std::string out;
  out.push_back(static_cast<char>(k_version));
  codec::put_varint(out, d.day < 0 ? 0 : static_cast<std::uint64_t>(d.day));
  codec::put_varint(out, d.resolutions);
  auto reasons = all_reasons();
  std::size_t n = 0;
  for (auto c : d.by_reason)
    n += c != 0 ? 1 : 0;
  codec::put_varint(out, n);
  for (std::size_t i = 0; i < d.by_reason.size() && i < reasons.size(); ++i) {
    if (d.by_reason[i] == 0) continue;
    codec::put_lpstr(out, reasons[i]);
    codec::put_varint(out, d.by_reason[i]);
  }
  codec::put_varint(out, d.by_channel.size());
  for (const auto& [name, c] : d.by_channel) {
    codec::put_lpstr(out, name);
    codec::put_varint(out, c);
  }
  codec::put_varint(out, d.by_rule.size());
  for (const auto& [rule, c] : d.by_rule.sorted()) {
    out.push_back(static_cast<char>(rule.type));
    codec::put_varint(out, rule.id < 0 ? 0 : static_cast<std::uint64_t>(rule.id));
    codec::put_varint(out, c);
  }
  put_summary(out, d.hosts, put_host);
  put_summary(out, d.mediums, put_medium);
  codec::put_fixed32(out, crc32c(out));
  return out;
}

result<day_insights> decode_day(std::string_view value) {
  std::string_view body;
  std::uint32_t crc = 0;
  if (!codec::split_crc32(value, body, crc) || crc32c(body) != crc) {
    return damaged("its checksum does not match");
  }
  codec::reader in(body);
  std::uint8_t version = 0;
  if (!in.u8(version)) return damaged("it is empty");
  if (version > k_version) {
    return make_error(errc::store_corrupted, "an insights record has version " +
                                                 std::to_string(version) +
                                                 ", written by a newer release");
  }
  day_insights d;
  std::uint64_t day = 0, n = 0;
  if (!in.varint(day) || !in.varint(d.resolutions) || !in.varint(n)) return damaged("its head");
  d.day = static_cast<std::int64_t>(day);
  auto reasons = all_reasons();
  for (std::uint64_t i = 0; i < n; ++i) {
    std::string name;
    std::uint64_t c = 0;
    if (!in.lpstr(name) || !in.varint(c)) return damaged("its reasons");
    auto it = std::find(reasons.begin(), reasons.end(), name);
    if (it != reasons.end()) d.by_reason[static_cast<std::size_t>(it - reasons.begin())] = c;
  }
  if (!in.varint(n) || n > day_insights::k_names) return damaged("its channels");
  for (std::uint64_t i = 0; i < n; ++i) {
    std::string name;
    std::uint64_t c = 0;
    if (!in.lpstr(name) || !in.varint(c)) return damaged("its channels");
    d.by_channel[std::move(name)] = c;
  }
  if (!in.varint(n)) return damaged("its rules");
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint8_t kind = 0;
    std::uint64_t id = 0, c = 0;
    if (!in.u8(kind) || kind > 2 || !in.varint(id) || !in.varint(c)) return damaged("its rules");
    rule_ref rule{static_cast<rule_ref::kind>(kind), static_cast<std::int64_t>(id)};
    if (d.by_rule.at(rule) != 0) return damaged("its rules (one twice)");
    d.by_rule.add(rule, c);
  }
  if (!get_summary(in, d.hosts, get_host)) return damaged("its hosts");
  if (!get_summary(in, d.mediums, get_medium)) return damaged("its mediums");
  if (in.remaining() != 0) return damaged("bytes after its end");
  return d;
}

std::string encode_days(const std::vector<const day_insights*>& days) {
  std::string out;
  codec::put_varint(out, days.size());
  for (const auto* d : days)
    codec::put_lpstr(out, encode_day(*d));
  return out;
}

result<std::vector<day_insights>> decode_days(std::string_view value) {
  codec::reader in(value);
  std::uint64_t n = 0;
  if (!in.varint(n) || n > value.size()) {
    return make_error(errc::store_corrupted, "a node's days do not read: no count");
  }
  std::vector<day_insights> out;
  out.reserve(static_cast<std::size_t>(n));
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint64_t size = 0;
    std::string_view one;
    if (!in.varint(size) || !in.bytes(static_cast<std::size_t>(size), one)) {
      return make_error(errc::store_corrupted,
                        "a node's days do not read: day " + std::to_string(i) + " is cut short");
    }
    auto d = decode_day(one);
    if (!d) return d.err();
    out.push_back(std::move(*d));
  }
  if (in.remaining() != 0) {
    return make_error(errc::store_corrupted, "a node's days do not read: bytes after the last day");
  }
  return out;
}

}  // namespace referrald::domain
