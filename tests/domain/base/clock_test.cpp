#include "domain/base/clock.hpp"

#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <ctime>
#include <string>

using namespace referrald::domain;

BOOST_AUTO_TEST_SUITE(time_format)

BOOST_AUTO_TEST_CASE(format_renders_utc_with_milliseconds) {
  BOOST_TEST(format_rfc3339(0) == "1970-01-01T00:00:00.000Z");
  BOOST_TEST(format_rfc3339(1736071200000) == "2025-01-05T10:00:00.000Z");
  BOOST_TEST(format_rfc3339(1736071200123) == "2025-01-05T10:00:00.123Z");
  BOOST_TEST(format_rfc3339(951782400000) == "2000-02-29T00:00:00.000Z");
}

BOOST_AUTO_TEST_CASE(format_agrees_with_the_c_library_from_year_0_to_9999_and_beyond) {
  // gmtime_r and strftime as the reference, over times spread across the years the digits
  // are written for (0 to 9999) and a few outside them.
  auto reference = [](unix_ms t) {
    std::time_t secs = static_cast<std::time_t>(t >= 0 ? t / 1000 : (t - 999) / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char date[32];
    std::snprintf(date, sizeof date, "%04lld", static_cast<long long>(tm.tm_year) + 1900);
    char rest[32];
    std::strftime(rest, sizeof rest, "-%m-%dT%H:%M:%S", &tm);
    char ms[8];
    std::snprintf(ms, sizeof ms, ".%03dZ", static_cast<int>(t - static_cast<unix_ms>(secs) * 1000));
    return std::string(date) + rest + ms;
  };
  const unix_ms year0 = -62167219200000;      // 0000-01-01T00:00:00.000Z
  const unix_ms year10000 = 253402300800000;  // 10000-01-01T00:00:00.000Z
  for (unix_ms t = year0 - unix_ms{86400000} * 400; t < year10000 + unix_ms{86400000} * 400;
       t += unix_ms{9876543210}) {
    BOOST_TEST_REQUIRE(format_rfc3339(t) == reference(t), t);
  }
  for (unix_ms t :
       {year0, year0 - 1, year10000, year10000 - 1, unix_ms{-1}, unix_ms{0}, unix_ms{1}})
    BOOST_TEST(format_rfc3339(t) == reference(t), t);
}

BOOST_AUTO_TEST_CASE(parse_accepts_rfc3339_forms) {
  BOOST_TEST(*parse_rfc3339("2025-01-05T10:00:00Z") == 1736071200000);
  BOOST_TEST(*parse_rfc3339("2025-01-05t10:00:00z") == 1736071200000);
  BOOST_TEST(*parse_rfc3339("2025-01-05T10:00:00.5Z") == 1736071200500);
  BOOST_TEST(*parse_rfc3339("2025-01-05T10:00:00.123456789Z") == 1736071200123);
  BOOST_TEST(*parse_rfc3339("2025-01-05T12:00:00+02:00") == 1736071200000);
  BOOST_TEST(*parse_rfc3339("2025-01-05T09:30:00-00:30") == 1736071200000);
}

BOOST_AUTO_TEST_CASE(parse_round_trips_format) {
  for (unix_ms t : {0LL, 1LL, 1736071200123LL, 4102444799999LL}) {
    BOOST_TEST(*parse_rfc3339(format_rfc3339(t)) == t);
  }
}

BOOST_AUTO_TEST_CASE(parse_rejects_invalid_timestamps) {
  for (const char* s :
       {"", "2025-01-05", "2025-01-05T10:00:00", "2025-02-30T00:00:00Z", "2025-13-01T00:00:00Z",
        "2025-01-05T24:00:00Z", "2025-01-05 10:00:00Z", "2025-01-05T10:00:00.Z",
        "2025-01-05T10:00:00+2:00", "yesterday", "2025-01-05T10:00:00Zjunk"}) {
    BOOST_TEST(!parse_rfc3339(s).has_value(), s);
  }
}

BOOST_AUTO_TEST_CASE(dates_are_real_calendar_days) {
  BOOST_TEST(is_valid_date(2024, 2, 29));
  BOOST_TEST(!is_valid_date(2025, 2, 29));
  BOOST_TEST(!is_valid_date(1900, 2, 29));
  BOOST_TEST(is_valid_date(2000, 2, 29));
  BOOST_TEST(!is_valid_date(2025, 4, 31));
  BOOST_TEST(parse_date("2026-05-20").has_value());
  BOOST_TEST(!parse_date("2026-5-20").has_value());
  BOOST_TEST(!parse_date("2026-02-30").has_value());
  BOOST_TEST(format_date(*parse_date("2026-05-20")) == "2026-05-20");
}

BOOST_AUTO_TEST_SUITE_END()
