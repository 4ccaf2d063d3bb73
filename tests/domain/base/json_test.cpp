#include "domain/base/json.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <boost/test/unit_test.hpp>
#include <climits>
#include <cstdio>
#include <optional>

#include "tests/support/strict_json.hpp"

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

BOOST_AUTO_TEST_CASE(a_nul_byte_does_not_end_a_body_early_for_either_parser) {
  // RapidJSON reads a NUL as the end of its input: without a check, what follows one would
  // never be read, and "{} garbage" written with a NUL before it would parse.
  using namespace std::string_literals;
  for (std::string body : {"{}\0garbage"s, "{}\0"s, "{\"a\":\"x\0y\"}"s, "\0{}"s}) {
    rapidjson::Document d;
    auto st = parse_json(body, d);
    BOOST_REQUIRE(!st.ok());
    BOOST_TEST((st.err().code == errc::invalid_json));
    BOOST_TEST(st.err().message.find("NUL") != std::string::npos);
    auto insitu = parse_json_insitu(body, d);
    BOOST_REQUIRE(!insitu.ok());
    BOOST_TEST((insitu.err().code == errc::invalid_json));
  }
  rapidjson::Document d;
  BOOST_TEST(parse_json(R"({"a":"\u0000"})", d).ok());  // an escaped NUL is a JSON string's
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

// Debian's RapidJSON, built with RAPIDJSON_SSE2, wrote U+001A-U+001F raw into strings.
BOOST_AUTO_TEST_CASE(no_control_character_reaches_a_json_string_unescaped) {
  for (int c = 0; c < 0x20; ++c) {
    // Long enough for a 16-byte block scan to see the character in its middle.
    std::string s = "https://0123456789abcdef" + std::string(1, static_cast<char>(c)) +
                    "lookout.net/0123456789abcdef";
    rapidjson::StringBuffer buf;
    json_writer w(buf);
    w.StartArray();
    write_string(w, s);
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));  // RapidJSON's own escaping
    rapidjson::Document doc;
    doc.SetString(s.data(), static_cast<rapidjson::SizeType>(s.size()), doc.GetAllocator());
    doc.Accept(w);
    w.EndArray();
    std::string written(buf.GetString(), buf.GetSize());
    std::string appended = "[";
    append_json_string(appended, s);
    appended += "]";
    for (const std::string& out : {written, appended}) {
      BOOST_TEST(referrald::testing::rfc8259_problem(out) == "", "U+00" << std::hex << c);
      rapidjson::Document d;
      BOOST_REQUIRE(parse_json(out, d).ok());
      for (const auto& v : d.GetArray())
        BOOST_TEST(std::string(v.GetString(), v.GetStringLength()) == s);
    }
  }
}

// The escaper skips plain runs eight bytes at a time: a byte that needs escaping is found at
// any position, next to any other.
BOOST_AUTO_TEST_CASE(escaping_finds_a_special_byte_at_any_position) {
  auto reference = [](std::string_view s) {
    std::string out = "\"";
    for (unsigned char c : s) {
      char buf[8];
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c == '\n') {
        out += "\\n";
      } else if (c < 0x20 && c != '\t' && c != '\r' && c != '\b' && c != '\f') {
        std::snprintf(buf, sizeof buf, "\\u%04X", c);
        out += buf;
      } else if (c == '\t') {
        out += "\\t";
      } else if (c == '\r') {
        out += "\\r";
      } else if (c == '\b') {
        out += "\\b";
      } else if (c == '\f') {
        out += "\\f";
      } else {
        out += static_cast<char>(c);
      }
    }
    return out + "\"";
  };
  for (std::string special : {std::string(1, '"'), std::string(1, '\\'), std::string(1, '\x1f'),
                              std::string(1, '\x1a'), std::string(1, '\0'), std::string("\xC3\xBC"),
                              std::string("\xE6\x97\xA5"), std::string(1, '\x7f')}) {
    for (std::size_t at = 0; at < 20; ++at) {
      for (std::size_t len : {at + special.size(), at + special.size() + 1, std::size_t{24}}) {
        if (len < at + special.size()) continue;
        std::string s(len, 'a');
        s.replace(at, special.size(), special);
        std::string out;
        append_json_string(out, s);
        BOOST_TEST(out == reference(s), "at " << at << " of " << len);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(bytes_that_are_not_utf8_are_written_as_the_replacement_character) {
  for (std::string s : {std::string("a\xFF"
                                    "b"),
                        std::string("\xC3"), std::string("\xED\xA0\x80"), std::string("\xC0\xAF"),
                        std::string("ok \xE6\x97")}) {
    rapidjson::StringBuffer buf;
    json_writer w(buf);
    write_string(w, s);
    std::string written(buf.GetString(), buf.GetSize());
    std::string appended;
    append_json_string(appended, s);
    BOOST_TEST(written == appended);
    BOOST_TEST(referrald::testing::rfc8259_problem(written) == "", written);
    BOOST_TEST(written.find("\xEF\xBF\xBD") != std::string::npos, written);
  }
}

BOOST_AUTO_TEST_CASE(integrality_is_decided_on_the_number_text_not_on_a_rounded_double) {
  struct expect {
    const char* text;
    std::optional<std::int64_t> value;
  };
  for (const auto& e : std::initializer_list<expect>{{"7", 7},
                                                     {"-0", 0},
                                                     {"0.000", 0},
                                                     {"0e-999999999999", 0},
                                                     {"1.0", 1},
                                                     {"1e2", 100},
                                                     {"1E+2", 100},
                                                     {"100e-2", 1},
                                                     {"12.50e1", 125},
                                                     {"-3.0e0", -3},
                                                     {"9007199254740993", 9007199254740993},
                                                     {"9223372036854775807", INT64_MAX},
                                                     {"-9223372036854775808", INT64_MIN},
                                                     {"922337203685477580.7e1", INT64_MAX},
                                                     {"1e-400", std::nullopt},
                                                     {"-1e-400", std::nullopt},
                                                     {"1.5", std::nullopt},
                                                     {"1.0000000000000000001", std::nullopt},
                                                     {"250e-1", 25},
                                                     {"255e-1", std::nullopt},
                                                     {"9223372036854775808", std::nullopt},
                                                     {"1e19", std::nullopt},
                                                     {"0.5e-323", std::nullopt}}) {
    auto d = parse(std::string("[") + e.text + "]");
    auto got = integral_value(d[0]);
    BOOST_TEST(got.has_value() == e.value.has_value(), e.text);
    if (got && e.value) BOOST_TEST(*got == *e.value, e.text);
    BOOST_TEST(d[0].IsNumber(), e.text);
  }
  // Past int64, a non-negative integer keeps its exact value as uint64.
  auto big = parse("[18446744073709551615, 1.8446744073709551615e19]");
  BOOST_TEST(big[0].IsUint64());
  BOOST_TEST(big[0].GetUint64() == UINT64_MAX);
  BOOST_TEST(big[1].GetUint64() == UINT64_MAX);
  // Other numbers are doubles, as precise as the text allows.
  auto frac = parse("[0.1, -2.5e-3, 1e-400]");
  BOOST_TEST(frac[0].GetDouble() == 0.1);
  BOOST_TEST(frac[1].GetDouble() == -0.0025);
  BOOST_TEST(frac[2].GetDouble() == 0.0);
  rapidjson::Document d;
  BOOST_TEST(!parse_json("[1e400]", d).ok());  // too large for any number type
  BOOST_TEST(!parse_json("[01]", d).ok());
  BOOST_TEST(!parse_json("[1.]", d).ok());
  std::string insitu = R"({"a":[1.0,2e1,3.5,"x"]})";
  BOOST_REQUIRE(parse_json_insitu(insitu, d).ok());
  BOOST_TEST(d["a"][0].IsInt64());
  BOOST_TEST(d["a"][1].GetInt64() == 20);
  BOOST_TEST(d["a"][2].GetDouble() == 3.5);
  BOOST_TEST(std::string(d["a"][3].GetString()) == "x");
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
