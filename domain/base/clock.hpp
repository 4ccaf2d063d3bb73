#pragma once

// Wall-clock time as used in stored records: milliseconds since the Unix epoch, UTC.
// Rendered as RFC 3339 with millisecond precision and `Z` ("2025-01-05T10:00:00.000Z").

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace referrald::domain {

using unix_ms = std::int64_t;

unix_ms now_ms();

// Time as the service reads it, so that a test can set it (tests/support/test_clock.hpp):
// the wall clock of stored records and lifetimes, and the steady clock of timeouts. Parts
// that take a clock read nothing else. Thread-safe.
class clock {
 public:
  virtual ~clock() = default;
  virtual unix_ms now_ms() const = 0;
  virtual std::chrono::steady_clock::time_point steady_now() const = 0;
  // now_ms() read at less cost and within the kernel's tick of it (a few milliseconds), for
  // what is counted on every request (insights' counts); a test clock's is its now_ms().
  virtual unix_ms coarse_now_ms() const { return now_ms(); }
};

// The machine's clocks.
const clock& system_clock();

// "YYYY-MM-DDTHH:MM:SS.mmmZ". Valid for years 0000–9999.
std::string format_rfc3339(unix_ms t);

// Accepts RFC 3339 date-times: `T` or `t` separator, optional fraction of any length
// (truncated to milliseconds), and `Z`/`z` or a numeric offset `+HH:MM`/`-HH:MM`.
// Returns nullopt for anything else, including impossible dates (2025-02-30).
std::optional<unix_ms> parse_rfc3339(std::string_view s);

// Days since 1970-01-01 for a proleptic Gregorian date; no range checks.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d);

// True when y-m-d is a real calendar date.
bool is_valid_date(int y, int m, int d);

// Parses a strict "YYYY-MM-DD" into days since 1970-01-01, or nullopt.
std::optional<std::int64_t> parse_date(std::string_view s);

// "YYYY-MM-DD" for days since 1970-01-01.
std::string format_date(std::int64_t days);

}  // namespace referrald::domain
