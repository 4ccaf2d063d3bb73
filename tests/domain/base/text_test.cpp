#include "domain/base/text.hpp"

#include <boost/test/unit_test.hpp>

using namespace referrald::domain;

BOOST_AUTO_TEST_SUITE(text)

BOOST_AUTO_TEST_CASE(trim_removes_surrounding_ascii_whitespace_only) {
  BOOST_TEST(trim("  a b \t\r\n") == "a b");
  BOOST_TEST(trim("") == "");
  BOOST_TEST(trim(" \t ") == "");
  BOOST_TEST(trim("x") == "x");
}

BOOST_AUTO_TEST_CASE(utf8_length_counts_code_points) {
  BOOST_TEST(utf8_length("abc") == 3u);
  BOOST_TEST(utf8_length("b\xC3\xBC"
                         "cher") == 6u);                      // bücher
  BOOST_TEST(utf8_length("\xF0\x9F\x98\x80") == 1u);          // one emoji, 4 bytes
  BOOST_TEST(utf8_length("\xE6\x97\xA5\xE6\x9C\xAC") == 2u);  // 日本
}

BOOST_AUTO_TEST_CASE(utf8_validation_rejects_malformed_sequences) {
  BOOST_TEST(is_valid_utf8("plain"));
  BOOST_TEST(is_valid_utf8("\xC3\xBC"));
  BOOST_TEST(!is_valid_utf8("\xC3"));              // truncated
  BOOST_TEST(!is_valid_utf8("\xC0\xAF"));          // overlong '/'
  BOOST_TEST(!is_valid_utf8("\xED\xA0\x80"));      // surrogate
  BOOST_TEST(!is_valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  BOOST_TEST(!is_valid_utf8("\xFF"));
}

BOOST_AUTO_TEST_CASE(lowercase_touches_ascii_letters_only) {
  BOOST_TEST(to_lower_ascii("HeLLo-\xC3\x9C") == "hello-\xC3\x9C");
}

BOOST_AUTO_TEST_CASE(an_excerpt_of_attacker_text_is_bounded_and_valid_utf8) {
  BOOST_TEST(excerpt("short") == "short");
  std::string long_text(5000, 'x');
  BOOST_TEST(excerpt(long_text) == std::string(100, 'x') + "...");
  std::string wide;
  for (int i = 0; i < 150; ++i)
    wide += "\xE6\x97\xA5";  // three bytes each: the bound counts code points
  BOOST_TEST(utf8_length(excerpt(wide)) == 103u);
  BOOST_TEST(is_valid_utf8(excerpt(wide)));
  BOOST_TEST(excerpt("a\xFF"
                     "b") ==
             "a\xEF\xBF\xBD"
             "b");
  BOOST_TEST(excerpt("ab", 1) == "a...");
}

BOOST_AUTO_TEST_CASE(base64_is_decoded_and_anything_else_refused) {
  // RFC 4648's test vectors.
  BOOST_TEST(*from_base64("") == "");
  BOOST_TEST(*from_base64("Zg==") == "f");
  BOOST_TEST(*from_base64("Zm8=") == "fo");
  BOOST_TEST(*from_base64("Zm9v") == "foo");
  BOOST_TEST(*from_base64("Zm9vYg==") == "foob");
  BOOST_TEST(*from_base64("Zm9vYmE=") == "fooba");
  BOOST_TEST(*from_base64("Zm9vYmFy") == "foobar");
  BOOST_TEST(*from_base64("//79AA==") == std::string("\xff\xfe\xfd\x00", 4));
  for (std::string_view bad : {"Zg", "Zg=", "Z===", "Zg==Zg==", "Zm9v!", "Zm9-", "Zm9_", "=Zg="})
    BOOST_TEST(!from_base64(bad).has_value(), bad);
}

BOOST_AUTO_TEST_CASE(host_and_port_split_at_the_last_colon_with_brackets_for_ipv6) {
  auto v4 = split_host_port("10.0.0.5:7480");
  BOOST_REQUIRE(v4.has_value());
  BOOST_TEST(v4->host == "10.0.0.5");
  BOOST_TEST(v4->port == "7480");
  auto v6 = split_host_port("[::1]:0");
  BOOST_REQUIRE(v6.has_value());
  BOOST_TEST(v6->host == "::1");
  BOOST_TEST(v6->port == "0");
  auto name = split_host_port("db-1.internal:80");
  BOOST_REQUIRE(name.has_value());
  BOOST_TEST(name->host == "db-1.internal");
  for (const char* bad : {"", "7480", ":7480", "host:", "[::1:80", "::1]:80", "[]:80"})
    BOOST_TEST(!split_host_port(bad).has_value(), bad);
}

BOOST_AUTO_TEST_SUITE_END()
