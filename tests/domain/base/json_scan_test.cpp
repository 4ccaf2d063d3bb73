#include "domain/base/json_scan.hpp"

#include <rapidjson/document.h>

#include <boost/test/unit_test.hpp>
#include <random>
#include <string>
#include <vector>

#include "domain/base/json.hpp"

using namespace referrald::domain;

namespace {

json_kind kind_of(const rapidjson::Value& v) {
  if (v.IsNull()) return json_kind::null;
  if (v.IsBool()) return json_kind::boolean;
  if (v.IsNumber()) return json_kind::number;
  if (v.IsString()) return json_kind::string;
  if (v.IsArray()) return json_kind::array;
  return json_kind::object;
}

// The scanner's promise, checked against the parser: when it reads `text`, parse_json
// accepts it as an object with the same members (names and string values equal where
// nothing is escaped). Returns whether the scanner read it.
bool agrees_with_the_parser(const std::string& text) {
  std::vector<json_member> members;
  bool scanned = scan_object(text, members);
  if (!scanned) return false;
  rapidjson::Document doc;
  auto st = parse_json(text, doc);
  BOOST_TEST_REQUIRE(st.ok(), "scanned, but the parser refuses: " << text);
  BOOST_TEST_REQUIRE(doc.IsObject(), text);
  BOOST_TEST_REQUIRE(members.size() == doc.MemberCount(), text);
  std::size_t i = 0;
  for (auto m = doc.MemberBegin(); m != doc.MemberEnd(); ++m, ++i) {
    const json_member& s = members[i];
    if (!s.key_escaped) {
      BOOST_TEST(s.key == std::string_view(m->name.GetString(), m->name.GetStringLength()), text);
    }
    BOOST_TEST((s.kind == kind_of(m->value)), text);
    if (s.kind == json_kind::string && !s.value_escaped) {
      BOOST_TEST(s.value == std::string_view(m->value.GetString(), m->value.GetStringLength()),
                 text);
    }
  }
  return true;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(json_scan)

BOOST_AUTO_TEST_CASE(reads_the_members_of_a_visit_line_as_views) {
  std::string line =
      R"({"referrer":"https://www.google.com/","landing_url":"https://a.example/?x=1","session":)"
      R"({"utm_source":"news","utm_medium":null},"event_id":12,"time":-1.5,"ok":true,)"
      R"("tags":["a",{"b":[1,2]}]})";
  std::vector<json_member> m;
  BOOST_TEST_REQUIRE(scan_object(line, m));
  BOOST_TEST_REQUIRE(m.size() == 7u);
  BOOST_TEST(m[0].key == "referrer");
  BOOST_TEST(m[0].value == "https://www.google.com/");
  BOOST_TEST((m[2].kind == json_kind::object));
  BOOST_TEST(m[2].value == R"({"utm_source":"news","utm_medium":null})");
  BOOST_TEST((m[3].kind == json_kind::number));
  BOOST_TEST(m[3].value == "12");
  BOOST_TEST(m[4].value == "-1.5");
  BOOST_TEST((m[5].kind == json_kind::boolean));
  BOOST_TEST((m[6].kind == json_kind::array));
  BOOST_TEST(m[6].value == R"(["a",{"b":[1,2]}])");
  BOOST_TEST(agrees_with_the_parser(line));
}

BOOST_AUTO_TEST_CASE(says_which_strings_hold_escapes) {
  std::vector<json_member> m;
  BOOST_TEST_REQUIRE(scan_object(R"({"a\u0062":"x\"y","c":"\/"})", m));
  BOOST_TEST(m[0].key_escaped);
  BOOST_TEST(m[0].value_escaped);
  BOOST_TEST(m[0].value == R"(x\"y)");
  BOOST_TEST(!m[1].key_escaped);
  BOOST_TEST(m[1].value_escaped);
}

BOOST_AUTO_TEST_CASE(gives_up_on_what_it_does_not_read_the_simple_way) {
  std::vector<json_member> m;
  for (std::string text : {
           std::string("\xEF\xBB\xBF{}"),                // a byte order mark (the parser skips it)
           std::string(R"({"a":"\ud83d\ude00"})"),       // a surrogate pair
           std::string(R"({"a":"\udc00"})"),             // a lone surrogate
           std::string(R"({"a":1e3})"),                  // an exponent
           std::string(R"({"a":1234567890123456789})"),  // 19 integer digits
           std::string(R"([1])"),                        // not an object
           std::string(R"("a")"),
           std::string(R"({"a":1}x)"),  // trailing bytes
           std::string(R"({"a":01})"),  // a leading zero
           std::string(R"({"a":.5})"),
           std::string(R"({"a":1.})"),
           std::string(R"({"a":-})"),
           std::string(R"({"a":tru})"),
           std::string(R"({"a":"\x"})"),
           std::string("{\"a\":\"tab\there\"}"),     // a raw control character
           std::string("{\"a\":\"\xC3\"}"),          // cut UTF-8
           std::string("{\"a\":\"\xED\xA0\x80\"}"),  // an encoded surrogate
           std::string(R"({"a":1,})"),
           std::string(R"({,})"),
           std::string(R"({"a" 1})"),
           std::string(R"({"a":[1,]})"),
           std::string(R"({"a":{"b"}})"),
           std::string(R"({"a":1)"),
           std::string(""),
           std::string(R"({"a":)") + std::string(70, '[') + std::string(70, ']') + "}",  // deep
       }) {
    BOOST_TEST(!scan_object(text, m), text);
  }
}

BOOST_AUTO_TEST_CASE(reads_whitespace_utf8_and_nesting_as_the_parser_does) {
  for (std::string text : {
           std::string(" \t{ \"a\" : \"b\" ,\r\n\"c\":[ ] , \"d\":{ } }\r\n"),
           std::string("{}"),
           std::string("{\"b\xC3\xBC\":\"\xE6\x97\xA5\xF0\x9F\x98\x80\"}"),
           std::string(R"({"a":0,"b":-0,"c":0.25,"d":123456789012345678,"e":null})"),
           std::string(R"({"a":"\u0000\n\t\\\/\b\f\r"})"),
           std::string(R"({"a":"a","a":"b"})"),  // a repeated key: both members
           std::string(R"({"a":)") + std::string(60, '[') + std::string(60, ']') + "}",
       }) {
    BOOST_TEST(agrees_with_the_parser(text), text);
  }
}

// Mutations of valid lines: whatever the scanner reads, the parser reads the same way.
BOOST_AUTO_TEST_CASE(never_reads_a_line_the_parser_refuses_or_reads_otherwise) {
  const std::vector<std::string> seeds = {
      R"({"referrer":"https://www.facebook.com/","landing_url":"https://hotel.example/r/0",)"
      R"("session":null,"event_id":0,"time":1795511051281})",
      R"({"referrer":null,"landing_url":"https://x.example/?utm_source=a","session":)"
      R"({"utm_source":"n","utm_medium":"e"},"time":"2026-11-22T10:00:00Z","x":[1,2.5,{"y":true}]})",
      R"({"a":"\u00e9\"q\\","b":-12.75,"c":[[],{}],"d":false})",
  };
  const std::string alphabet = "{}[]\":,\\/ \t\r\n0123456789.-+eEtrufalsn\x01\x7F\xC3\xA9\xFFu";
  std::mt19937 rng(7);
  int scanned = 0;
  for (int round = 0; round < 40000; ++round) {
    std::string text = seeds[rng() % seeds.size()];
    int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      std::size_t at = rng() % text.size();
      char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 4) {
        case 0:
          text[at] = c;
          break;
        case 1:
          text.insert(at, 1, c);
          break;
        case 2:
          text.erase(at, 1);
          break;
        default:
          text.resize(at);
      }
    }
    if (agrees_with_the_parser(text)) ++scanned;
  }
  // Both outcomes occur: the check above ran on thousands of lines the scanner read.
  BOOST_TEST(scanned > 1000);
  BOOST_TEST(scanned < 40000);
}

// A batch: whatever scan_member_array reads, the parser reads as an object of that one member,
// an array of as many elements, each the parser's reading of the element's text; and an
// object element's members are the ones scan_object reads from its text.
BOOST_AUTO_TEST_CASE(reads_the_elements_of_a_batch_as_the_parser_does) {
  std::vector<json_element> elements;
  std::vector<json_member> members, one_members;
  BOOST_REQUIRE(
      scan_member_array(" {\"visits\" : [ {\"a\":1, \"b\" :\"x\"} , 7,\"x\" ,[],null,{} ]}\n",
                        "visits", 10, elements, members));
  BOOST_REQUIRE(elements.size() == 6u);
  BOOST_TEST(elements[0].text == "{\"a\":1, \"b\" :\"x\"}");
  BOOST_TEST(elements[0].object);
  BOOST_TEST(elements[0].count == 2u);
  BOOST_TEST(members[elements[0].first].key == "a");
  BOOST_TEST(members[elements[0].first + 1].value == "x");
  BOOST_TEST(elements[1].text == "7");
  BOOST_TEST(!elements[1].object);
  BOOST_TEST(elements[2].text == "\"x\"");
  BOOST_TEST(elements[3].text == "[]");
  BOOST_TEST(elements[4].text == "null");
  BOOST_TEST(elements[5].object);
  BOOST_TEST(elements[5].count == 0u);
  BOOST_REQUIRE(scan_member_array("{\"visits\":[]}", "visits", 10, elements, members));
  BOOST_TEST(elements.empty());
  BOOST_TEST(scan_member_array("{\"visits\":[1,2,3]}", "visits", 3, elements, members));
  BOOST_TEST(!scan_member_array("{\"visits\":[1,2,3,4]}", "visits", 3, elements, members));
  for (std::string text : {"{}", "[1]", "{\"visits\":[1,]}", "{\"visits\":[1 2]}", "{\"visits\":[",
                           "{\"visits\":[1]}x", "{\"visits\":[1e2]}", "", "{\"visit\":[1]}",
                           "{\"vi\\u0073its\":[1]}", "{\"visits\":{}}", "{\"visits\":[1],\"x\":1}",
                           "{\"x\":1,\"visits\":[1]}", "{\"visits\":[{\"a\":1,}]}"})
    BOOST_TEST(!scan_member_array(text, "visits", 10, elements, members), text);

  const std::string seed =
      R"({"visits":[{"referrer":"https://www.facebook.com/","landing_url":"https://hotel.example/r/0"},)"
      R"({"referrer":null,"landing_url":"x.example","session":{"utm_source":"n"}},7,"s",[1,{}]]})";
  const std::string alphabet = "{}[]\":,\\ \t0123456789.-eEnul\xC3\xA9";
  std::mt19937 rng(11);
  int read = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string text = seed;
    for (int e = 0, edits = 1 + static_cast<int>(rng() % 2); e < edits; ++e) {
      std::size_t at = rng() % text.size();
      char c = alphabet[rng() % alphabet.size()];
      if (rng() % 2 == 0) {
        text[at] = c;
      } else {
        text.insert(at, 1, c);
      }
    }
    if (!scan_member_array(text, "visits", 10000, elements, members)) continue;
    ++read;
    rapidjson::Document doc;
    BOOST_TEST_REQUIRE(parse_json(text, doc).ok(), "scanned, but the parser refuses: " << text);
    BOOST_TEST_REQUIRE(doc.IsObject(), text);
    BOOST_TEST_REQUIRE(doc.MemberCount() == 1u, text);
    BOOST_TEST_REQUIRE(doc.HasMember("visits"), text);
    const auto& list = doc["visits"];
    BOOST_TEST_REQUIRE(list.IsArray(), text);
    BOOST_TEST_REQUIRE(list.Size() == elements.size(), text);
    for (rapidjson::SizeType i = 0; i < list.Size(); ++i) {
      rapidjson::Document one;
      BOOST_TEST_REQUIRE(parse_json(elements[i].text, one).ok(), text);
      std::string a, b;
      append_canonical_json(a, list[i]);
      append_canonical_json(b, one);
      BOOST_TEST(a == b, text);
      BOOST_TEST_REQUIRE(elements[i].object == one.IsObject(), text);
      if (!elements[i].object) continue;
      BOOST_TEST_REQUIRE(scan_object(elements[i].text, one_members), text);
      BOOST_TEST_REQUIRE(one_members.size() == elements[i].count, text);
      for (std::size_t m = 0; m < one_members.size(); ++m) {
        const auto& x = members[elements[i].first + m];
        const auto& y = one_members[m];
        BOOST_TEST((x.key == y.key && x.kind == y.kind && x.value == y.value &&
                    x.key_escaped == y.key_escaped && x.value_escaped == y.value_escaped),
                   text);
      }
    }
  }
  BOOST_TEST(read > 500);
  BOOST_TEST(read < 20000);
}

BOOST_AUTO_TEST_SUITE_END()
