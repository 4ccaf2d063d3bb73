// Replay and start-up: how fast account state is rebuilt from the store.
//
//   bench_replay seed DIR ACCOUNTS EVENTS SNAPSHOT_AT
//       writes ACCOUNTS accounts of EVENTS events each (creates, updates and deletes of
//       both rule kinds, regexes included), and for each account a snapshot of its state
//       after event SNAPSHOT_AT (0: none)
//   bench_replay load DIR THREADS [snapshots|events]
//       opens the store and rebuilds every account (with its lookup indexes, as the
//       server's loaders do) on THREADS threads, from snapshots + tails or from the events
//       alone; prints the time and the events folded per second

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "snapshots/recovery.hpp"
#include "snapshots/snapshot_store.hpp"
#include "tools/workload/event_gen.hpp"

using namespace referrald;
using steady = std::chrono::steady_clock;

namespace {

int seed(const std::string& dir, int accounts, int events, std::uint64_t snapshot_at) {
  auto d = store::db::open({dir, false});
  if (!d) {
    std::fprintf(stderr, "open: %s\n", d.err().message.c_str());
    return 1;
  }
  store::event_log log(**d);
  snapshots::snapshot_store snaps(**d);
  for (int a = 0; a < accounts; ++a) {
    char name[32];
    std::snprintf(name, sizeof name, "account-%04d", a);
    workload::event_generator gen{name, static_cast<unsigned>(a + 1)};
    gen.append(**d, events, false);
    if (snapshot_at > 0) {
      snapshots::stop_at stop;
      stop.max_seq = snapshot_at;
      auto s = snapshots::load_account(log, nullptr, name, stop);
      if (!s) return 1;
      store::write_batch b;
      if (!snaps.put(b, *s) || !(*d)->write(b, false)) return 1;
    }
  }
  std::printf("seeded %d accounts x %d events, snapshots at seq %llu\n", accounts, events,
              static_cast<unsigned long long>(snapshot_at));
  return 0;
}

int load(const std::string& dir, int threads, bool use_snapshots) {
  auto t0 = steady::now();
  auto d = store::db::open({dir, false});
  if (!d) {
    std::fprintf(stderr, "open: %s\n", d.err().message.c_str());
    return 1;
  }
  double open_s = std::chrono::duration<double>(steady::now() - t0).count();
  store::event_log log(**d);
  snapshots::snapshot_store snaps(**d);
  std::vector<std::string> accounts;
  if (!log.for_each_account([&](const std::string& a) {
        accounts.push_back(a);
        return true;
      })) {
    return 1;
  }
  std::atomic<std::size_t> next{0};
  std::atomic<std::uint64_t> folded{0}, from_snapshots{0}, failures{0};
  auto t1 = steady::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (std::size_t i = next++; i < accounts.size(); i = next++) {
        snapshots::load_report r;
        auto s =
            snapshots::load_account(log, use_snapshots ? &snaps : nullptr, accounts[i], {}, &r);
        if (!s) {
          ++failures;
          continue;
        }
        s->refresh_indexes();
        folded += r.events_replayed;
        from_snapshots += r.snapshot_seq > 0 ? 1 : 0;
      }
    });
  }
  for (auto& t : pool)
    t.join();
  double load_s = std::chrono::duration<double>(steady::now() - t1).count();
  double total_s = std::chrono::duration<double>(steady::now() - t0).count();
  std::printf(
      "%s, %d threads: %zu accounts (%llu from snapshots), %llu events folded; open %.3f s, "
      "rebuild %.3f s, start-up %.3f s; %.0f events/s%s\n",
      use_snapshots ? "snapshots + tails" : "events only", threads, accounts.size(),
      static_cast<unsigned long long>(from_snapshots.load()),
      static_cast<unsigned long long>(folded.load()), open_s, load_s, total_s,
      load_s > 0 ? static_cast<double>(folded.load()) / load_s : 0.0, failures ? ", FAILURES" : "");
  return failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "seed" && argc == 6) {
    return seed(argv[2], std::atoi(argv[3]), std::atoi(argv[4]),
                static_cast<std::uint64_t>(std::atoll(argv[5])));
  }
  if (mode == "load" && argc >= 4) {
    return load(argv[2], std::max(1, std::atoi(argv[3])),
                !(argc > 4 && std::string(argv[4]) == "events"));
  }
  std::fprintf(stderr,
               "usage: bench_replay seed DIR ACCOUNTS EVENTS SNAPSHOT_AT\n"
               "       bench_replay load DIR THREADS [snapshots|events]\n");
  return 2;
}
