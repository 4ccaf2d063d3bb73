#include "domain/base/csv.hpp"

#include <boost/test/unit_test.hpp>

using namespace referrald::domain;

BOOST_AUTO_TEST_SUITE(csv)

BOOST_AUTO_TEST_CASE(records_follow_rfc_4180) {
  auto r = parse_csv("a,b,c\r\n1,\"x,\"\"y\"\"\",\r\n\n\"multi\nline\",2,3", 10);
  BOOST_REQUIRE(r.ok());
  BOOST_REQUIRE(r->size() == 3u);
  BOOST_TEST(((*r)[1] == csv_record{"1", "x,\"y\"", ""}));
  BOOST_TEST(((*r)[2] == csv_record{"multi\nline", "2", "3"}));
  auto bom = parse_csv("\xEF\xBB\xBFh\n", 10);
  BOOST_REQUIRE(bom.ok());
  BOOST_TEST((*bom)[0][0] == "h");
}

BOOST_AUTO_TEST_CASE(malformed_input_names_the_line) {
  auto open = parse_csv("a\n\"never closed\n", 10);
  BOOST_REQUIRE(!open.ok());
  BOOST_TEST(open.err().message.find("line 2") != std::string::npos, open.err().message);
  auto stray = parse_csv("a\nb\"c\n", 10);
  BOOST_REQUIRE(!stray.ok());
  BOOST_TEST(stray.err().message.find("line 2") != std::string::npos);
  auto after = parse_csv("\"a\"b\n", 10);
  BOOST_TEST(!after.ok());
  BOOST_TEST(!parse_csv("1\n2\n3\n", 2).ok());
  BOOST_TEST(parse_csv("1\n2\n", 2).ok());
}

BOOST_AUTO_TEST_CASE(fields_are_quoted_only_when_they_must_be) {
  std::string out;
  append_csv_field(out, "plain");
  out += ',';
  append_csv_field(out, "a,\"b\"\nc");
  BOOST_TEST(out == "plain,\"a,\"\"b\"\"\nc\"");
  auto back = parse_csv(out, 1);
  BOOST_REQUIRE(back.ok());
  BOOST_TEST(((*back)[0] == csv_record{"plain", "a,\"b\"\nc"}));
}

BOOST_AUTO_TEST_SUITE_END()
