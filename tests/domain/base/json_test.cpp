#include "domain/base/json.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <boost/test/unit_test.hpp>

using namespace referrald::domain;

namespace {

rapidjson::Document parse(std::string_view text) {
  rapidjson::Document d;
  auto st = parse_json(text, d);
  BOOST_REQUIRE_MESSAGE(st.ok(), text);
  return d;
}

bool has_detail(const error& e, std::string_view field, std::string_view needle) {
  for (const auto& d : e.details) {
    if (d.field == field && d.message.find(needle) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(json)

BOOST_AUTO_TEST_CASE(parse_reports_the_error_offset) {
  rapidjson::Document d;
  auto st = parse_json(R"({"a": 1,})", d);
  BOOST_REQUIRE(!st.ok());
  BOOST_TEST((st.err().code == errc::invalid_json));
  BOOST_TEST(st.err().message.find("offset 8") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(parse_rejects_invalid_utf8_and_trailing_garbage) {
  rapidjson::Document d;
  BOOST_TEST(!parse_json("{\"a\": \"\xC3\"}", d).ok());
  BOOST_TEST(!parse_json("{} {}", d).ok());
  BOOST_TEST(!parse_json("", d).ok());
  BOOST_TEST(parse_json(" {} \n", d).ok());
}

BOOST_AUTO_TEST_CASE(parse_survives_deep_nesting) {
  std::string deep(200000, '[');
  rapidjson::Document d;
  BOOST_TEST(!parse_json(deep, d).ok());
  deep += std::string(200000, ']');
  BOOST_TEST(parse_json(deep, d).ok());
}

BOOST_AUTO_TEST_CASE(reader_names_unknown_read_only_and_repeated_fields) {
  auto d = parse(R"({"a": "x", "id": 3, "created_at": "t", "zzz": 1, "a": "y"})");
  field_reader in(d, {"a"});
  auto st = in.finish();
  BOOST_REQUIRE(!st.ok());
  BOOST_TEST(has_detail(st.err(), "id", "read-only"));
  BOOST_TEST(has_detail(st.err(), "created_at", "read-only"));
  BOOST_TEST(has_detail(st.err(), "zzz", "not a known field"));
  BOOST_TEST(has_detail(st.err(), "a", "more than once"));
}

BOOST_AUTO_TEST_CASE(reader_checks_types_lengths_and_ranges) {
  auto d = parse(R"({"s": 5, "t": "  ", "u": "abcdef", "b": "true", "n": 1.5, "m": 2000,
                     "nul": null, "ns": null})");
  field_reader in(d, {"s", "t", "u", "b", "n", "m", "nul", "ns", "missing"});
  BOOST_TEST(!in.required_string("s", 1, 10));
  BOOST_TEST(!in.required_string("t", 1, 10));
  BOOST_TEST(!in.optional_string("u", 0, 5));
  BOOST_TEST(!in.optional_bool("b"));
  BOOST_TEST(!in.optional_int("n", 0, 10));
  BOOST_TEST(!in.optional_int("m", 0, 1000));
  BOOST_TEST(!in.optional_string("nul", 0, 5));
  auto ns = in.optional_nullable_string("ns", 5);
  BOOST_TEST((ns.has_value() && !ns->has_value()));
  BOOST_TEST(!in.required_string("missing", 1, 5));
  auto st = in.finish();
  BOOST_REQUIRE(!st.ok());
  BOOST_TEST(has_detail(st.err(), "s", "must be a string, not a number"));
  BOOST_TEST(has_detail(st.err(), "t", "must not be empty"));
  BOOST_TEST(has_detail(st.err(), "u", "at most 5"));
  BOOST_TEST(has_detail(st.err(), "b", "must be a boolean"));
  BOOST_TEST(has_detail(st.err(), "n", "must be an integer"));
  BOOST_TEST(has_detail(st.err(), "m", "between 0 and 1000"));
  BOOST_TEST(has_detail(st.err(), "nul", "not null"));
  BOOST_TEST(has_detail(st.err(), "missing", "is required"));
}

BOOST_AUTO_TEST_CASE(reader_counts_code_points_after_trimming) {
  // Five code points, ten bytes, padded with spaces.
  auto d = parse("{\"s\": \"  \xC3\xBC\xC3\xBC\xC3\xBC\xC3\xBC\xC3\xBC  \"}");
  field_reader in(d, {"s"});
  auto s = in.required_string("s", 1, 5);
  BOOST_REQUIRE(s.has_value());
  BOOST_TEST(*s == "\xC3\xBC\xC3\xBC\xC3\xBC\xC3\xBC\xC3\xBC");
  BOOST_TEST(in.finish().ok());
}

BOOST_AUTO_TEST_CASE(string_appending_escapes_like_the_json_writer) {
  for (std::string s : {std::string("plain"), std::string("quote \" back \\ slash"),
                        std::string("tab\tnew\nline\rcr"), std::string("\x01\x1f ctl \b \f \x7f"),
                        std::string("b\xC3\xBC"
                                    "cher \xE6\x97\xA5"),
                        std::string()}) {
    rapidjson::StringBuffer buf;
    json_writer w(buf);
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    std::string appended;
    append_json_string(appended, s);
    BOOST_TEST(appended == std::string(buf.GetString(), buf.GetSize()));
    rapidjson::Document d;
    BOOST_REQUIRE(parse_json(appended, d).ok());
    BOOST_TEST(std::string(d.GetString(), d.GetStringLength()) == s);
  }
}

BOOST_AUTO_TEST_CASE(reader_rejects_a_body_that_is_not_an_object) {
  auto d = parse("[1, 2]");
  field_reader in(d, {"a"});
  auto st = in.finish();
  BOOST_REQUIRE(!st.ok());
  BOOST_TEST(st.err().message.find("JSON object") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(an_in_situ_body_ending_in_a_utf8_lead_byte_is_invalid_json_not_an_overread) {
  // Found by fuzzing (tests/fuzz/corpus/push_rows/crash-insitu-truncated-utf8-lead): the
  // in-situ parser read past the end of such a body.
  for (std::string body :
       {std::string("{\",026-11-dst.\xF0"), std::string("[\"\xE2"), std::string("\"\xC3")}) {
    rapidjson::Document d;
    auto st = parse_json_insitu(body, d);
    BOOST_REQUIRE(!st.ok());
    BOOST_TEST((st.err().code == errc::invalid_json));
  }
  std::string ok = "[\"caf\xC3\xA9\"]";
  rapidjson::Document d;
  BOOST_REQUIRE(parse_json_insitu(ok, d).ok());
  BOOST_TEST(ok.size() == 9u);  // the padding is gone again
  BOOST_TEST(std::string(d[0].GetString()) == "caf\xC3\xA9");
}

BOOST_AUTO_TEST_CASE(canonical_json_ignores_how_a_document_was_written) {
  auto a = parse(
      R"({"b":1.0,"a":["x",1e2,-0.5,null,true],"c":{"z":"\u0041","y":18446744073709551615}})");
  auto b = parse(
      R"( { "c" : { "y" : 18446744073709551615, "z" : "A" }, "a" : [ "x", 100, -5e-1, null, true ], "b" : 1 } )");
  std::string ca, cb;
  append_canonical_json(ca, a);
  append_canonical_json(cb, b);
  BOOST_TEST(ca == cb);
  BOOST_TEST(ca ==
             R"({"a":["x",100,-0.5,null,true],"b":1,"c":{"y":18446744073709551615,"z":"A"}})");
  auto other = parse(R"({"b":2,"a":[],"c":{}})");
  std::string co;
  append_canonical_json(co, other);
  BOOST_TEST(co != ca);
}

BOOST_AUTO_TEST_SUITE_END()
