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

// Cells that a spreadsheet runs as formulas were written as they were, and utm_* values
// come from anyone's link (OWASP "CSV injection").
BOOST_AUTO_TEST_CASE(formulas_are_written_as_text_and_read_back_as_they_were) {
  const std::vector<std::string> values = {"=HYPERLINK(\"https://evil.example\",\"x\")",
                                           "+1",
                                           "-2+3",
                                           "@SUM(A1)",
                                           "\tx",
                                           "\r=x",
                                           "'=x",
                                           "''x",
                                           "'quoted",
                                           "a=b",
                                           "",
                                           "=a,b"};
  std::string out;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    append_csv_field(out, values[i]);
  }
  BOOST_TEST(out ==
             "\"'=HYPERLINK(\"\"https://evil.example\"\",\"\"x\"\")\""
             ",'+1,'-2+3,'@SUM(A1),'\tx,\"'\r=x\",''=x,'''x,'quoted,a=b,,\"'=a,b\"");
  auto back = parse_csv(out, 1);
  BOOST_REQUIRE(back.ok());
  BOOST_TEST(((*back)[0] == values));
  for (const auto& v : values) {
    std::string field;
    append_csv_field(field, v);
    BOOST_TEST(field.find_first_of("=+-@\t\r") != 0u, v);  // no cell starts a formula
  }
}

// An unterminated quote under the reader's record bound swallowed the rest of the input
// into one malformed record.
BOOST_AUTO_TEST_CASE(an_unterminated_quote_ends_its_record_at_its_first_line) {
  std::string text = "a,\"open\nb,c\nd,e\n";
  std::vector<std::string> fields;
  auto r = read_csv_record(text, 0, fields);
  BOOST_TEST(r.problem == "a quoted field is not closed");
  BOOST_TEST(r.end == 8u);  // after the first line
  BOOST_TEST(r.lines == 1u);
  auto next = read_csv_record(text, r.end, fields);
  BOOST_TEST(next.problem.empty());
  BOOST_REQUIRE(next.fields == 2u);
  BOOST_TEST(fields[0] == "b");
  BOOST_TEST(fields[1] == "c");
}

BOOST_AUTO_TEST_SUITE_END()
