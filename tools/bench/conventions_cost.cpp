// The per-request CPU cost of the conventions the conventions benchmark switches on,
// measured in one process on one thread (no network, no noise from the load generator):
// an access-log line (formatted into the I/O thread's buffer and written out to a file
// every 32 KiB, as the server does) and a rate-limit take on a key's bucket.
//   build/bench/bench_conventions_cost FILE [REQUESTS=2000000]

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "http/access_log.hpp"
#include "http/rate_limiter.hpp"

using namespace referrald;
using clock_type = std::chrono::steady_clock;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_conventions_cost FILE [REQUESTS]\n");
    return 2;
  }
  const long n = argc > 2 ? std::atol(argv[2]) : 2000000;
  http::access_log log;
  if (!log.open(argv[1])) {
    std::fprintf(stderr, "cannot open %s\n", argv[1]);
    return 1;
  }
  std::string buffer;
  http::access_log::entry e;
  e.request_id = "req_3b040bcfe46859fa";
  e.key_id = 1;
  e.method = "GET";
  e.route = "/passthrough-referrers/{id}";
  e.account_id = "acme";
  e.status = 200;
  e.bytes = 270;
  e.remote = "127.0.0.1";
  auto t0 = clock_type::now();
  for (long i = 0; i < n; ++i) {
    e.duration_us = i & 1023;
    log.add(buffer, e);
  }
  log.flush(buffer);
  double log_ns = std::chrono::duration<double, std::nano>(clock_type::now() - t0).count() / n;

  http::rate_limiter limiter(2000000, 4000000);
  std::atomic<std::int64_t> bucket{0};
  std::uint64_t allowed = 0;
  t0 = clock_type::now();
  for (long i = 0; i < n; ++i)
    allowed += limiter.take(bucket).allowed ? 1 : 0;
  double take_ns = std::chrono::duration<double, std::nano>(clock_type::now() - t0).count() / n;

  std::printf("access log line: %.0f ns; rate-limit take: %.0f ns (%llu of %ld allowed)\n", log_ns,
              take_ns, static_cast<unsigned long long>(allowed), n);
  return 0;
}
