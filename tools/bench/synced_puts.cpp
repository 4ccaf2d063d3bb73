// The durable-write limit of a disk: THREADS threads each doing RocksDB puts with
// sync=true (every put acknowledged only after fsync) for SECONDS seconds, values of
// VALUE_BYTES. RocksDB groups concurrent synced writes into one fsync, so this is the
// rate a perfect service that does nothing but write could reach. Also prints how many
// log syncs RocksDB made (wal_syncs: one per group of puts, counted as the log writer makes
// them, wal_syncs.hpp), and the CPU time the process used (cpu_ms, from getrusage), so that
// counting costs the puts next to nothing.
//
//   bench_synced_puts DIR [THREADS=32] [SECONDS=10] [VALUE_BYTES=420]

#include "wal_syncs.hpp"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_synced_puts DIR [THREADS] [SECONDS] [VALUE_BYTES]\n");
    return 2;
  }
  std::string dir = argv[1];
  int threads = argc > 2 ? std::atoi(argv[2]) : 32;
  int seconds = argc > 3 ? std::atoi(argv[3]) : 10;
  std::size_t value_bytes = argc > 4 ? static_cast<std::size_t>(std::atoi(argv[4])) : 420;

  wal_sync_counter counter;
  rocksdb::Options options;
  options.create_if_missing = true;
  options.env = counter.env();
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::Open(options, dir, &raw);
  if (!s.ok()) {
    std::fprintf(stderr, "open: %s\n", s.ToString().c_str());
    return 1;
  }
  std::unique_ptr<rocksdb::DB> db(raw);

  std::atomic<bool> stop{false};
  std::atomic<long> puts{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> workers;
  std::string value(value_bytes, 'v');
  auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      rocksdb::WriteOptions wo;
      wo.sync = true;
      for (long i = 0; !stop; ++i) {
        std::string key = "t" + std::to_string(t) + "-" + std::to_string(i);
        if (!db->Put(wo, key, value).ok()) {
          failed = true;
          return;
        }
        ++puts;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  for (auto& w : workers)
    w.join();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (failed) {
    std::fprintf(stderr, "a put failed\n");
    return 1;
  }
  unsigned long long syncs = counter.syncs();
  struct rusage used {};
  ::getrusage(RUSAGE_SELF, &used);
  auto ms = [](const timeval& t) {
    return t.tv_sec * 1000.0 + t.tv_usec / 1000.0;
  };
  std::printf(
      "synced puts: threads=%d value_bytes=%zu puts=%ld seconds=%.2f puts_per_sec=%.0f "
      "wal_syncs=%llu cpu_ms=%.0f\n",
      threads, value_bytes, puts.load(), elapsed, static_cast<double>(puts) / elapsed, syncs,
      ms(used.ru_utime) + ms(used.ru_stime));
  (void)db->Close();
  return 0;
}
