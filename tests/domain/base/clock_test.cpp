#include "domain/base/clock.hpp"

#include <boost/test/unit_test.hpp>

using namespace referrald::domain;

BOOST_AUTO_TEST_SUITE(time_format)

BOOST_AUTO_TEST_CASE(format_renders_utc_with_milliseconds) {
  BOOST_TEST(format_rfc3339(0) == "1970-01-01T00:00:00.000Z");
  BOOST_TEST(format_rfc3339(1736071200000) == "2025-01-05T10:00:00.000Z");
  BOOST_TEST(format_rfc3339(1736071200123) == "2025-01-05T10:00:00.123Z");
  BOOST_TEST(format_rfc3339(951782400000) == "2000-02-29T00:00:00.000Z");
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
