// The stream alone, written as the smallest client that can write it would: no referrald
// code, only libnats. WRITERS threads share one connection; each owns one subject
// (bench.<stream>.<i>) and writes one message at a time of SIZE bytes with the headers a
// node's write carries — "Nats-Msg-Id" and "Nats-Expected-Last-Subject-Sequence" (the
// sequence its last write was stored at) — and waits for the acknowledgement before the
// next. The stream is made first as a cluster's is (file storage, REPLICAS replicas,
// deletes and purges denied), and deleted at the end. The ceiling that cluster creates are
// measured against (tools/bench/cluster_cpu.sh).
//
//   bench_stream_alone URLS STREAM REPLICAS WRITERS SECONDS [SIZE=350]
//
// Prints "R writes/s (N writes in S s)" as bench_cluster_log does, the acknowledgement
// latency (p50, p99), and the writes whose acknowledgement was an error (a fenced write that
// lost: none expected, each subject has one writer).

#include "bench_stream.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

bool ok(natsStatus s, const char* what) {
  if (s == NATS_OK) return true;
  std::fprintf(stderr, "bench_stream_alone: %s: %s\n", what, natsStatus_GetText(s));
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6 && argc != 7) {
    std::fprintf(stderr,
                 "usage: bench_stream_alone URLS STREAM REPLICAS WRITERS SECONDS [SIZE=350]\n");
    return 2;
  }
  std::string urls = argv[1], stream = argv[2];
  int replicas = std::atoi(argv[3]);
  int writers = std::atoi(argv[4]);
  double seconds = std::atof(argv[5]);
  std::size_t size = argc == 7 ? static_cast<std::size_t>(std::atol(argv[6])) : 350;
  if (replicas < 1 || writers < 1 || seconds <= 0) {
    std::fprintf(stderr, "bench_stream_alone: REPLICAS, WRITERS and SECONDS must be positive\n");
    return 2;
  }

  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  if (!open_bench_stream("bench_stream_alone", urls, stream, replicas, &nc, &js)) return 1;

  std::string payload(size, 'x');
  std::atomic<bool> stop{false};
  std::atomic<long> failed{0};
  std::vector<std::vector<double>> latencies(static_cast<std::size_t>(writers));
  std::vector<std::thread> threads;
  auto start = clock_type::now();
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      std::string subject = "bench." + stream + "." + std::to_string(w);
      std::uint64_t last = 0;  // the subject's last sequence
      auto& lat = latencies[static_cast<std::size_t>(w)];
      for (std::uint64_t n = 1; !stop.load(std::memory_order_relaxed); ++n) {
        auto t0 = clock_type::now();
        bool stored = publish_fenced(js, subject, payload, last);
        auto t1 = clock_type::now();
        if (!stored) {
          failed.fetch_add(1);
          continue;
        }
        lat.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      }
    });
  }
  // For a script that measures the servers over the load alone, without the setup.
  std::fprintf(stderr, "bench_stream_alone: writing for %.1f s\n", seconds);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads)
    t.join();
  double elapsed = std::chrono::duration<double>(clock_type::now() - start).count();
  std::vector<double> all;
  for (const auto& l : latencies)
    all.insert(all.end(), l.begin(), l.end());
  std::printf(
      "stream alone (%d writers, %zu-byte messages, %d replicas): %.0f writes/s "
      "(%zu writes in %.1f s), ack p50 %.0f us, p99 %.0f us; %ld failed\n",
      writers, size, replicas, static_cast<double>(all.size()) / elapsed, all.size(), elapsed,
      percentile(all, 0.5), percentile(all, 0.99), failed.load());
  // The stream goes, so that what is measured next meets the servers as before.
  jsErrCode code = jsErrCode(0);
  if (!ok(js_DeleteStream(js, stream.c_str(), nullptr, &code), "delete stream")) return 1;
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  nats_Close();
  return 0;
}
