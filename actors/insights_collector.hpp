#pragma once

// Insights' counting (docs/insights.md): the live resolutions of each account, counted per
// thread on the thread that resolved, without a lock shared between threads, and merged
// off the I/O threads into the book of days (domain/insights/insights_book.hpp) — every
// second on the collector's own thread ("insights"), and before every read, so that a read
// sees every resolution answered before it. The book is written to the store every
// `flush_every` and at stop, and read back at start.
//
// count() is for any thread (an I/O thread, a compute thread); a thread's counters are its
// own and merged by the collector only. Reads are for any thread.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "domain/attribution/resolution.hpp"
#include "domain/attribution/visit.hpp"
#include "domain/base/clock.hpp"
#include "domain/insights/insights_book.hpp"
#include "store/db.hpp"

namespace referrald::actors {

struct insights_options {
  std::size_t days_kept = domain::insights_book::k_default_days;
  std::chrono::milliseconds merge_every{1000};
  std::chrono::milliseconds flush_every{60000};
};

class insights_collector {
 private:
  struct slot;

 public:
  // Reads the stored days; starts the collector's thread.
  insights_collector(store::db& db, const domain::clock& clock, insights_options options);
  // flush_and_stop().
  ~insights_collector();
  insights_collector(const insights_collector&) = delete;
  insights_collector& operator=(const insights_collector&) = delete;

  // Counts one live resolution of `account`, now, on the calling thread's counters.
  void count(std::string_view account, const domain::visit& v, const domain::resolution& r);

  // Counts a run of live resolutions of one account on the calling thread (a slice of a
  // batch): the thread's counters are found and the time read once for the run, not per
  // resolution, and the run's reasons and channels are added up before they are written.
  // It holds the thread's counters while it lives: keep it to a slice of work (a merge
  // waits for it), count nothing else on the thread meanwhile, and keep the answers' channel
  // names alive as long as it (the account's rules the run resolved with).
  class tally {
   public:
    tally(insights_collector& c, std::string_view account);
    ~tally();  // writes the run's totals
    tally(const tally&) = delete;
    tally& operator=(const tally&) = delete;
    void count(const domain::visit& v, const domain::resolution& r);

   private:
    void write_header();
    void write_totals();
    // Adds one resolution of `c` to the totals; false when they have no room left for its
    // reason and channel (written first, then added).
    bool add_up(const domain::counted& c);
    insights_collector& c_;
    std::string_view account_;
    std::unique_lock<std::mutex> lock_;
    domain::unix_ms at_;
    slot* slot_;
    bool logging_ = false;  // the run's header is in the log: its records may follow
    bool first_ = true;     // no resolution of the run written yet
    // The run's resolutions logged and not yet in a totals record: their number, and by
    // reason and channel — found by the addresses of the answer's texts (the same few
    // constants and rule names again and again), the first k_pairs_most pairs — and the
    // size of their record, kept free at the log's end.
    static constexpr std::size_t k_pairs = 32, k_pairs_most = 16;
    static constexpr std::size_t k_channel_most = 255;  // a longer name: counted apart
    struct pair_count {  // set before it is read (a tally is made for every single resolve)
      const char* reason;
      std::size_t reason_size;
      const char* channel;
      std::size_t channel_size;
      std::uint32_t count;
    };
    std::uint32_t resolutions_ = 0;
    std::uint32_t taken_ = 0;  // the places of pairs_ in use, a bit each
    pair_count pairs_[k_pairs];
    std::uint8_t order_[k_pairs_most];  // the places in use, in the order taken
    std::size_t pairs_size_ = 0;
    std::size_t totals_size_ = 0;
  };

  // Calls `fn` with the account's days from `from` to `to` (days since 1970, UTC; oldest
  // first) once every resolution counted before the call is in them; under the book's lock
  // (fn must not call back).
  void read(std::string_view account, std::int64_t from, std::int64_t to,
            const std::function<void(const std::vector<const domain::day_insights*>&)>& fn);

  // Forgets what was kept of `account`, stored records included.
  domain::status erase(const std::string& account);
  // The same, on the collector's thread in a moment (for a thread that must not block).
  void forget(const std::string& account);

  // Merges the threads' counters and writes what changed now (the periodic flush's work).
  domain::status flush();
  // Stops the collector's thread and flushes (once; at shutdown). Counts after it are
  // taken and never written.
  void flush_and_stop();

  const domain::clock& clock() const { return clock_; }
  std::size_t days_kept() const { return options_.days_kept; }

 private:
  // A thread's counters: one day of each account it counted.
  struct account_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // A thread's counts go first to its log: each run (a tally) writes its account and time,
  // its first resolution whole (what domain::what_counts() takes), then a short record for
  // each other that had a rule or fell through (what it takes besides the reason and
  // channel), and those others by reason and channel, added up; the collector's thread
  // counts the logs in bulk straight into the book at its merges. Writing a record reads one
  // line of the slot and writes the rest (the next record is on the same line), where
  // counting at once reads a chain of counters that went cold since the thread last
  // counted (BENCHMARKS.md). A log past k_log_wake wakes the collector; a resolution whose
  // records do not fit in the log's k_log_most bytes (the collector is late, or its texts
  // are too long) is counted in the thread's own days instead, so a thread's memory stays
  // bounded.
  static constexpr std::size_t k_log_wake = 128u << 10;
  static constexpr std::size_t k_log_most = 1u << 20;
  // The fields a count reads share one cache line: the lock and the log's place.
  struct alignas(64) slot {
    std::mutex mu;
    char* log_end = nullptr;    // where the next record goes
    char* log_limit = nullptr;  // the end of the log's storage
    char* log_begin = nullptr;
    std::unique_ptr<char[]> log;    // k_log_most bytes, made at the first count
    std::unique_ptr<char[]> spare;  // an emptied log's storage, for the next
    bool woke = false;              // the collector was woken for this log
    std::unordered_map<std::string, domain::day_insights, account_hash, std::equal_to<>> days;
    // Days the thread finished counting (it counted on the next), not merged yet.
    std::vector<std::pair<std::string, domain::day_insights>> finished;
  };
  slot& own_slot();
  // The slot's counters of `account` on `day` (the slot's lock held).
  static domain::day_insights& counters(slot& s, std::string_view account, std::int64_t day);
  // Counts the records of a log into the book (book_mu_ held).
  void count_log(std::string_view log);
  void merge_slots();  // with book_mu_ held
  void run();

  store::db& db_;
  const domain::clock& clock_;
  insights_options options_;
  const std::uint64_t id_;  // tells this collector's slots from another's on a thread

  std::mutex slots_mu_;
  std::vector<std::shared_ptr<slot>> slots_;

  std::mutex book_mu_;
  domain::insights_book book_;
  std::vector<std::pair<std::string, std::int64_t>> gone_;  // pruned, not deleted yet
  std::int64_t pruned_day_ = 0;                             // of the last prune
  domain::unix_ms pruned_at_ = 0;

  std::mutex run_mu_;
  std::condition_variable run_cv_;
  bool stopping_ = false;
  bool drain_ = false;                  // under run_mu_: a log asks to be counted
  std::vector<std::string> to_forget_;  // under run_mu_
  std::thread thread_;
};

}  // namespace referrald::actors
