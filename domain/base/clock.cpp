#include "domain/base/clock.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace referrald::domain {

namespace {

bool read_digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

struct civil {
  std::int64_t y;
  unsigned m;
  unsigned d;
};

// Howard Hinnant's civil_from_days.
civil civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2), m, d};
}

}  // namespace

unix_ms now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

class machine_clock final : public clock {
 public:
  unix_ms now_ms() const override { return domain::now_ms(); }
  unix_ms coarse_now_ms() const override {
    timespec ts{};
    if (::clock_gettime(CLOCK_REALTIME_COARSE, &ts) != 0) return domain::now_ms();
    return static_cast<unix_ms>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
  }
  std::chrono::steady_clock::time_point steady_now() const override {
    return std::chrono::steady_clock::now();
  }
};

}  // namespace

const clock& system_clock() {
  static const machine_clock c;
  return c;
}

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool is_valid_date(int y, int m, int d) {
  if (y < 0 || y > 9999 || m < 1 || m > 12 || d < 1) return false;
  static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int limit = days[m - 1];
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (m == 2 && leap) limit = 29;
  return d <= limit;
}

std::string format_rfc3339(unix_ms t) {
  std::int64_t days = t >= 0 ? t / 86400000 : (t - 86399999) / 86400000;
  std::int64_t rem = t - days * 86400000;
  civil c = civil_from_days(days);
  int ms = static_cast<int>(rem % 1000);
  int secs = static_cast<int>(rem / 1000);
  if (c.y >= 0 && c.y <= 9999) {
    // Years of four digits (every timestamp an API gives): written digit by digit, as
    // every answer that holds an entity writes one or two of them.
    std::string out = "0000-00-00T00:00:00.000Z";
    auto put = [&](std::size_t at, unsigned v, int digits) {
      for (int i = digits - 1; i >= 0; --i, v /= 10)
        out[at + static_cast<std::size_t>(i)] = static_cast<char>('0' + v % 10);
    };
    put(0, static_cast<unsigned>(c.y), 4);
    put(5, c.m, 2);
    put(8, c.d, 2);
    put(11, static_cast<unsigned>(secs / 3600), 2);
    put(14, static_cast<unsigned>((secs / 60) % 60), 2);
    put(17, static_cast<unsigned>(secs % 60), 2);
    put(20, static_cast<unsigned>(ms), 3);
    return out;
  }
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<long long>(c.y), c.m, c.d, secs / 3600, (secs / 60) % 60, secs % 60,
                ms);
  return buf;
}

std::optional<unix_ms> parse_rfc3339(std::string_view s) {
  int y, mo, d, h, mi, sec;
  if (s.size() < 20) return std::nullopt;
  if (!read_digits(s, 0, 4, y) || s[4] != '-' || !read_digits(s, 5, 2, mo) || s[7] != '-' ||
      !read_digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't') || !read_digits(s, 11, 2, h) ||
      s[13] != ':' || !read_digits(s, 14, 2, mi) || s[16] != ':' || !read_digits(s, 17, 2, sec)) {
    return std::nullopt;
  }
  if (!is_valid_date(y, mo, d) || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  if (sec == 60) sec = 59;  // a leap second is clamped into the minute it belongs to
  std::size_t pos = 19;
  int ms = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (pos - start < 3) ms = ms * 10 + (s[pos] - '0');
      ++pos;
    }
    if (pos == start) return std::nullopt;
    for (std::size_t k = pos - start; k < 3; ++k)
      ms *= 10;
  }
  if (pos >= s.size()) return std::nullopt;
  int offset_min = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh, om;
    if (!read_digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !read_digits(s, pos + 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_min = (oh * 60 + om) * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  std::int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  std::int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_min * 60;
  return secs * 1000 + ms;
}

std::optional<std::int64_t> parse_date(std::string_view s) {
  int y, m, d;
  if (s.size() != 10 || !read_digits(s, 0, 4, y) || s[4] != '-' || !read_digits(s, 5, 2, m) ||
      s[7] != '-' || !read_digits(s, 8, 2, d) || !is_valid_date(y, m, d)) {
    return std::nullopt;
  }
  return days_from_civil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
}

std::string format_date(std::int64_t days) {
  civil c = civil_from_days(days);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(c.y), c.m, c.d);
  return buf;
}

}  // namespace referrald::domain
