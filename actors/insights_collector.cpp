#include "actors/insights_collector.hpp"

#include <array>
#include <atomic>
#include <cstring>
#include <utility>

#include "infra/log.hpp"
#include "infra/metrics.hpp"
#include "infra/thread_name.hpp"
#include "store/insights_store.hpp"

namespace referrald::actors {

namespace {

std::atomic<std::uint64_t> next_collector_id{1};

}  // namespace

insights_collector::insights_collector(store::db& db, const domain::clock& clock,
                                       insights_options options)
    : db_(db),
      clock_(clock),
      options_(options),
      id_(next_collector_id.fetch_add(1)),
      book_(options.days_kept) {
  std::size_t skipped = 0;
  if (auto st = store::load_insights(db_, book_, skipped); !st) {
    infra::log(infra::log_level::warn, "insights: the stored days could not be read: " +
                                           st.err().message + "; counting from empty");
  }
  if (skipped > 0) {
    infra::log(infra::log_level::warn,
               "insights: " + std::to_string(skipped) + " stored days could not be read");
  }
  pruned_at_ = clock_.now_ms();
  pruned_day_ = domain::day_of(pruned_at_);
  gone_ = book_.prune(pruned_day_);
  thread_ = std::thread([this] {
    infra::name_thread("insights");
    run();
  });
}

insights_collector::~insights_collector() { flush_and_stop(); }

void insights_collector::flush_and_stop() {
  {
    std::lock_guard lock(run_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  run_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (auto st = flush(); !st) {
    infra::log(infra::log_level::warn,
               "insights: the last counts could not be written: " + st.err().message);
  }
}

insights_collector::slot& insights_collector::own_slot() {
  // A thread may count for several collectors over its life (tests run servers in turn):
  // its slots are found by the collector's id, never by an address that may be reused.
  thread_local std::vector<std::pair<std::uint64_t, std::shared_ptr<slot>>> mine;
  for (auto& [id, s] : mine)
    if (id == id_) return *s;
  auto s = std::make_shared<slot>();
  {
    std::lock_guard lock(slots_mu_);
    slots_.push_back(s);
  }
  mine.emplace_back(id_, s);
  return *s;
}

domain::day_insights& insights_collector::counters(slot& s, std::string_view account,
                                                   std::int64_t day) {
  auto it = s.days.find(account);
  if (it == s.days.end()) {
    it = s.days.emplace(std::string(account), domain::day_insights::for_thread()).first;
    it->second.day = day;
  } else if (it->second.day != day) {
    // A new day: what the thread counted of the last one waits for the merge.
    s.finished.emplace_back(it->first, std::move(it->second));
    it->second = domain::day_insights::for_thread();
    it->second.day = day;
  }
  return it->second;
}

void insights_collector::count(std::string_view account, const domain::visit& v,
                               const domain::resolution& r) {
  tally(*this, account).count(v, r);
}

insights_collector::tally::tally(insights_collector& c, std::string_view account)
    : c_(c), account_(account), at_(c.clock_.coarse_now_ms()), slot_(&c.own_slot()) {
  lock_ = std::unique_lock(slot_->mu);
  write_header();
}

insights_collector::tally::~tally() {
  if (logging_) write_totals();
}

namespace {

// A log's records (insights_collector.hpp), in the byte order of the machine (a log never
// leaves the process):
//   header  'A', text account, i64 time (ms): the account and time of the records after it;
//   record  'R', u8 flags (1 rule, 2 channel rule, 4 falls through, 8 session, 16 whole),
//           u8 rule kind, [u8 reason], [i64 rule id], [i64 channel rule id], [text channel],
//           and when it falls through: text referrer host, text landing host, text medium —
//           of one resolution: a run's first (whole: with its reason and channel), or one
//           that had a rule or fell through;
//   totals  'T', u32 resolutions, u8 n, n × (u8 reason, text channel, u32 count) — of the
//           resolutions since the header or the last totals, by reason and channel;
// a text being u16 size and its bytes.
constexpr char k_header = 'A';
constexpr char k_record = 'R';
constexpr char k_totals = 'T';
constexpr std::size_t k_text_most = 0xffff;
// What a resolution can add to its run's totals record: its first resolution, a reason and
// channel (and the channel's name).
constexpr std::size_t k_totals_first = 6, k_totals_pair = 7;

void put_text(char*& p, std::string_view t) {
  auto n = static_cast<std::uint16_t>(t.size());
  std::memcpy(p, &n, 2);
  if (!t.empty()) std::memcpy(p + 2, t.data(), t.size());  // an empty view may be null
  p += 2 + t.size();
}

template <class T>
void put(char*& p, T v) {
  std::memcpy(p, &v, sizeof v);
  p += sizeof v;
}

template <class T>
T take(const char*& p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  p += sizeof v;
  return v;
}

std::string_view take_text(const char*& p) {
  auto n = take<std::uint16_t>(p);
  std::string_view t(p, n);
  p += n;
  return t;
}

}  // namespace

void insights_collector::tally::write_header() {
  auto& s = *slot_;
  if (s.log_begin == nullptr) {
    if (!s.log) s.log = std::make_unique_for_overwrite<char[]>(k_log_most);
    s.log_begin = s.log_end = s.log.get();
    s.log_limit = s.log_begin + k_log_most;
  }
  if (account_.size() > k_text_most ||
      static_cast<std::size_t>(s.log_limit - s.log_end) < 11 + account_.size()) {
    return;
  }
  char* p = s.log_end;
  *p++ = k_header;
  put_text(p, account_);
  put<std::int64_t>(p, at_);
  s.log_end = p;
  logging_ = true;
}

bool insights_collector::tally::add_up(const domain::counted& c) {
  if (resolutions_ == UINT32_MAX) return false;
  auto a = reinterpret_cast<std::uintptr_t>(c.reason.data());
  auto b = reinterpret_cast<std::uintptr_t>(c.channel.data());
  auto i = static_cast<std::size_t>(((a ^ (b * 0x9e3779b97f4a7c15u)) * 0xff51afd7ed558ccdu) >> 59);
  for (;; i = (i + 1) % k_pairs) {
    auto& p = pairs_[i];
    if ((taken_ & (1u << i)) == 0) {
      if (pairs_size_ == k_pairs_most) return false;
      p = {c.reason.data(), c.reason.size(), c.channel.data(), c.channel.size(), 0};
      taken_ |= 1u << i;
      order_[pairs_size_++] = static_cast<std::uint8_t>(i);
      totals_size_ += k_totals_pair + c.channel.size();
      break;
    }
    if (p.reason == c.reason.data() && p.channel == c.channel.data() &&
        p.reason_size == c.reason.size() && p.channel_size == c.channel.size()) {
      break;
    }
  }
  ++pairs_[i].count;
  if (resolutions_++ == 0) totals_size_ += k_totals_first;
  return true;
}

void insights_collector::tally::write_totals() {
  if (resolutions_ == 0) return;
  char* p = slot_->log_end;
  *p++ = k_totals;
  put<std::uint32_t>(p, resolutions_);
  *p++ = static_cast<char>(pairs_size_);
  for (std::size_t k = 0; k < pairs_size_; ++k) {
    const auto& pair = pairs_[order_[k]];
    *p++ = static_cast<char>(domain::reason_index({pair.reason, pair.reason_size}));
    put_text(p, {pair.channel, pair.channel_size});
    put<std::uint32_t>(p, pair.count);
  }
  slot_->log_end = p;
  resolutions_ = 0;
  taken_ = 0;
  pairs_size_ = 0;
  totals_size_ = 0;
}

void insights_collector::tally::count(const domain::visit& v, const domain::resolution& r) {
  auto c = domain::what_counts(v, r);
  auto& s = *slot_;
  // The run's first resolution is written whole (a single resolve is a run of one); the
  // others add their reason and channel to the run's totals, and are written when they had a
  // rule or fell through.
  bool whole = first_;
  bool recorded = whole || c.has_rule || c.has_channel_rule || c.falls_through;
  std::size_t size = recorded ? 3 + 16 : 0;
  if (whole) size += 1 + 2 + c.channel.size();
  if (c.falls_through) size += 6 + c.referrer_host.size() + c.landing_host.size() + c.medium.size();
  // The log keeps room for the run's totals, this resolution's part included.
  std::size_t totals_most = totals_size_;
  if (!whole) totals_most += k_totals_first + k_totals_pair + c.channel.size();
  if (!logging_ || static_cast<std::size_t>(s.log_limit - s.log_end) < size + totals_most ||
      c.channel.size() > k_channel_most || c.referrer_host.size() > k_text_most ||
      c.landing_host.size() > k_text_most || c.medium.size() > k_text_most) {
    counters(s, account_, domain::day_of(at_)).record(c, at_);
    return;
  }
  if (whole) {
    first_ = false;
  } else if (!add_up(c)) {
    write_totals();
    add_up(c);
  }
  if (recorded) {
    char* p = s.log_end;
    *p++ = k_record;
    *p++ = static_cast<char>((c.has_rule ? 1 : 0) | (c.has_channel_rule ? 2 : 0) |
                             (c.falls_through ? 4 : 0) | (c.session ? 8 : 0) | (whole ? 16 : 0));
    *p++ = static_cast<char>(c.rule_kind);
    if (whole) *p++ = static_cast<char>(domain::reason_index(c.reason));
    if (c.has_rule) put<std::int64_t>(p, c.rule_id);
    if (c.has_channel_rule) put<std::int64_t>(p, c.channel_rule_id);
    if (whole) put_text(p, c.channel);
    if (c.falls_through) {
      put_text(p, c.referrer_host);
      put_text(p, c.landing_host);
      put_text(p, c.medium);
    }
    s.log_end = p;
  }
  if (static_cast<std::size_t>(s.log_end - s.log_begin) >= k_log_wake && !s.woke) {
    s.woke = true;
    {
      std::lock_guard lock(c_.run_mu_);
      c_.drain_ = true;
    }
    c_.run_cv_.notify_all();
  }
}

void insights_collector::count_log(std::string_view log) {
  std::uint64_t resolutions = 0, evictions = 0;  // for the metrics
  const char* p = log.data();
  const char* end = p + log.size();
  // The days of the last few accounts met: a log of single resolves holds a run (a header)
  // for each, of a few accounts in turn, which are counted into their days without finding
  // them in the book again.
  struct met {
    std::string_view account;
    domain::day_insights* day = nullptr;
  };
  std::array<met, 8> recent{};
  std::size_t next_recent = 0;
  domain::day_insights* day = nullptr;  // of the last header, found at its first record
  std::string_view account;
  domain::unix_ms at = 0;
  while (p < end) {
    char kind = *p++;
    if (kind == k_header) {
      account = take_text(p);
      at = take<std::int64_t>(p);
      day = nullptr;
      continue;
    }
    if (day == nullptr) {
      auto on = domain::day_of(at);
      for (const auto& m : recent) {
        if (m.day != nullptr && m.day->day == on && domain::same_bytes(m.account, account)) {
          day = m.day;
          break;
        }
      }
      if (day == nullptr) {
        day = &book_.counting(account, on);
        recent[next_recent++ % recent.size()] = {account, day};
      }
    }
    if (kind == k_totals) {
      auto run = take<std::uint32_t>(p);
      day->resolutions += run;
      resolutions += run;
      for (auto n = static_cast<unsigned char>(*p++); n > 0; --n) {
        auto reason = static_cast<std::uint8_t>(*p++);
        auto channel = take_text(p);
        auto count = take<std::uint32_t>(p);
        day->count_reason(reason, count);
        day->count_channel(channel, count);
      }
      continue;
    }
    domain::counted c{};
    auto flags = static_cast<unsigned char>(*p++);
    c.has_rule = (flags & 1) != 0;
    c.has_channel_rule = (flags & 2) != 0;
    c.falls_through = (flags & 4) != 0;
    c.session = (flags & 8) != 0;
    c.rule_kind = static_cast<domain::rule_ref::kind>(*p++);
    bool whole = (flags & 16) != 0;
    std::uint8_t reason = whole ? static_cast<std::uint8_t>(*p++) : 0;
    if (c.has_rule) c.rule_id = take<std::int64_t>(p);
    if (c.has_channel_rule) c.channel_rule_id = take<std::int64_t>(p);
    if (whole) {
      ++day->resolutions;
      ++resolutions;
      day->count_reason(reason);
      day->count_channel(take_text(p));
    }
    day->count_rules(c);
    if (c.falls_through) {
      c.referrer_host = take_text(p);
      c.landing_host = take_text(p);
      c.medium = take_text(p);
      auto before = day->hosts.evictions();
      day->count_fall_through(c, at);
      evictions += day->hosts.evictions() - before;
    }
  }
  infra::metrics().insights_resolutions.fetch_add(resolutions, std::memory_order_relaxed);
  infra::metrics().insights_evictions.fetch_add(evictions, std::memory_order_relaxed);
}

void insights_collector::merge_slots() {
  std::vector<std::shared_ptr<slot>> slots;
  {
    std::lock_guard lock(slots_mu_);
    slots = slots_;
  }
  auto take = [&](const std::string& account, const domain::day_insights& d) {
    const auto* before = book_.day(account, d.day);
    std::uint64_t evictions = before != nullptr ? before->hosts.evictions() : 0;
    book_.add(account, d);
    infra::metrics().insights_resolutions.fetch_add(d.resolutions, std::memory_order_relaxed);
    infra::metrics().insights_evictions.fetch_add(
        book_.day(account, d.day)->hosts.evictions() - evictions, std::memory_order_relaxed);
  };
  for (auto& s : slots) {
    decltype(s->days) taken;
    decltype(s->finished) finished;
    std::unique_ptr<char[]> log;
    std::size_t log_size = 0;
    {
      std::lock_guard lock(s->mu);
      taken.swap(s->days);
      finished.swap(s->finished);
      if (s->log_begin != nullptr) {
        log_size = static_cast<std::size_t>(s->log_end - s->log_begin);
        log = std::move(s->log);
        s->log = std::move(s->spare);  // the next count's (made then if there is none)
        s->log_begin = s->log_end = s->log_limit = nullptr;
        s->woke = false;
      }
    }
    if (log) {
      count_log({log.get(), log_size});
      std::lock_guard lock(s->mu);
      if (!s->spare) s->spare = std::move(log);
    }
    for (const auto& [account, d] : finished)
      take(account, d);
    for (const auto& [account, d] : taken)
      take(account, d);
  }
  // The days past those kept are forgotten when the day changes, and every second (for a
  // late count of a day already forgotten): not at every merge, which a busy log asks for
  // many times a second, while a prune walks every account.
  auto now = clock_.now_ms();
  if (domain::day_of(now) != pruned_day_ || now - pruned_at_ >= 1000 || now < pruned_at_) {
    auto gone = book_.prune(domain::day_of(now));
    gone_.insert(gone_.end(), gone.begin(), gone.end());
    pruned_day_ = domain::day_of(now);
    pruned_at_ = now;
  }
}

void insights_collector::read(
    std::string_view account, std::int64_t from, std::int64_t to,
    const std::function<void(const std::vector<const domain::day_insights*>&)>& fn) {
  std::lock_guard lock(book_mu_);
  merge_slots();
  fn(book_.days(account, from, to));
}

domain::status insights_collector::erase(const std::string& account) {
  {
    std::lock_guard lock(book_mu_);
    merge_slots();
    book_.erase(account);
  }
  return store::erase_insights(db_, account);
}

void insights_collector::forget(const std::string& account) {
  {
    std::lock_guard lock(run_mu_);
    to_forget_.push_back(account);
  }
  run_cv_.notify_all();
}

domain::status insights_collector::flush() {
  std::vector<std::pair<std::string, std::int64_t>> changed, gone;
  std::lock_guard lock(book_mu_);
  merge_slots();
  changed = book_.take_changed();
  gone.swap(gone_);
  auto st = store::save_insights(db_, book_, changed, gone);
  if (!st) {
    // Written at the next flush instead.
    book_.changed_again(changed);
    gone_.insert(gone_.end(), gone.begin(), gone.end());
    infra::metrics().insights_flush_failures.fetch_add(1, std::memory_order_relaxed);
    return st;
  }
  infra::metrics().insights_flushes.fetch_add(1, std::memory_order_relaxed);
  return st;
}

void insights_collector::run() {
  auto next_flush = std::chrono::steady_clock::now() + options_.flush_every;
  std::unique_lock lock(run_mu_);
  while (!stopping_) {
    run_cv_.wait_for(lock, options_.merge_every,
                     [&] { return stopping_ || drain_ || !to_forget_.empty(); });
    if (stopping_) break;
    drain_ = false;
    auto forget = std::exchange(to_forget_, {});
    lock.unlock();
    for (const auto& account : forget) {
      if (auto st = erase(account); !st) {
        infra::log(infra::log_level::warn, "insights: the counts of " + account +
                                               " could not be deleted: " + st.err().message);
      }
    }
    if (std::chrono::steady_clock::now() >= next_flush) {
      if (auto st = flush(); !st) {
        infra::log(infra::log_level::warn,
                   "insights: the counts could not be written: " + st.err().message);
      }
      next_flush = std::chrono::steady_clock::now() + options_.flush_every;
    } else {
      std::lock_guard book(book_mu_);
      merge_slots();
    }
    lock.lock();
  }
}

}  // namespace referrald::actors
