#include "actors/insights_collector.hpp"

#include <atomic>
#include <utility>

#include "infra/log.hpp"
#include "infra/metrics.hpp"
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
  gone_ = book_.prune(domain::day_of(clock_.now_ms()));
  thread_ = std::thread([this] { run(); });
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
  if (s.last != nullptr && s.last->day == day && domain::same_bytes(s.last_account, account)) {
    return *s.last;
  }
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
  s.last = &it->second;  // an element of an unordered_map stays where it is
  s.last_account = account;
  return it->second;
}

void insights_collector::count(std::string_view account, const domain::visit& v,
                               const domain::resolution& r) {
  tally(*this, account).count(v, r);
}

insights_collector::tally::tally(insights_collector& c, std::string_view account)
    : at_(c.clock_.coarse_now_ms()) {
  auto& s = c.own_slot();
  lock_ = std::unique_lock(s.mu);
  day_ = &counters(s, account, domain::day_of(at_));
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
    {
      std::lock_guard lock(s->mu);
      taken.swap(s->days);
      finished.swap(s->finished);
      s->last = nullptr;
    }
    for (const auto& [account, d] : finished)
      take(account, d);
    for (const auto& [account, d] : taken)
      take(account, d);
  }
  auto gone = book_.prune(domain::day_of(clock_.now_ms()));
  gone_.insert(gone_.end(), gone.begin(), gone.end());
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
    run_cv_.wait_for(lock, options_.merge_every, [&] { return stopping_ || !to_forget_.empty(); });
    if (stopping_) break;
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
