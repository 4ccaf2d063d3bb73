#pragma once

// The access log: one JSON object per answered request, one per line —
//   {"time":"2026-11-22T10:00:00.123Z","request_id":"...","key_id":3,"method":"GET",
//    "route":"/passthrough-referrers/{id}","account_id":"acme","status":200,"bytes":312,
//    "duration_us":184,"remote":"127.0.0.1"}
// `key_id`, `account_id` and `brand_id` appear when the request had them; `route` is null
// when no route matched. Lines are gathered per I/O thread and written (one write(2) of
// whole lines, to a file opened for appending, or to stderr) when 32 KiB have gathered or at
// the thread's next sweep (every 250 ms), so logging costs no system call per request.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http/exchange.hpp"
#include "http/response.hpp"

namespace referrald::http {

class access_log {
 public:
  // `target`: "" (off), "-" (stderr) or a file path. False when the file cannot be opened.
  bool open(const std::string& target);
  // Opens the file again by name (after a rotation moved it away); SIGHUP.
  void reopen();
  bool enabled() const { return fd_.load(std::memory_order_relaxed) >= 0; }
  ~access_log();

  struct entry {
    std::string_view request_id;
    std::optional<std::int64_t> key_id;
    std::string_view method;
    std::string_view route;  // empty: none matched
    std::string_view account_id;
    std::string_view brand_id;
    unsigned status = 0;
    std::size_t bytes = 0;
    std::int64_t duration_us = 0;
    std::string_view remote;
  };

  // Appends the line of `e` to `buffer` (the I/O thread's), writing the buffer out when full.
  void add(std::string& buffer, const entry& e) const;
  // Writes out what `buffer` holds.
  void flush(std::string& buffer) const;

 private:
  std::string path_;
  std::atomic<int> fd_{-1};
};

// The access log (http/chain.hpp), once an answer is written: the line of the answer `r` (of
// `bytes` bytes: a streamed answer's body is not in `r`) to the request of `ex` from `remote`,
// gathered in `buffer` (the I/O thread's); and the process log's line for a server error (warn)
// and, at debug level, for every request.
void log_answer(const access_log& log, std::string& buffer, const exchange& ex, const response& r,
                std::size_t bytes, std::chrono::steady_clock::duration took,
                std::string_view remote);

}  // namespace referrald::http
