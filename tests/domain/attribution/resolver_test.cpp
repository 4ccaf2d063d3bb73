#include "domain/attribution/resolver.hpp"

#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <boost/test/unit_test.hpp>
#include <fstream>
#include <functional>
#include <sstream>

#include "domain/rules/entities.hpp"
#include "tests/support/created_rules.hpp"
#include "tests/support/json_body.hpp"

using namespace referrald::domain;
using referrald::testing::create_rules;
using referrald::testing::parse;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  BOOST_REQUIRE_MESSAGE(in, "cannot read " << path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string to_text(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return buf.GetString();
}

// The account's settings as a case gives them (a patch of the defaults), through the real
// validation and fold.
void apply_settings(account_state& s, const rapidjson::Value& body) {
  auto p = parse_patch<account_settings>(body);
  BOOST_REQUIRE_MESSAGE(p.ok(), to_text(body) << ": " << (p.ok() ? "" : p.err().message));
  account_settings value;
  BOOST_REQUIRE(apply_patch(value, *p).ok());
  event e;
  e.seq = s.seq() + 1;
  e.prev_hash = s.head_hash();
  e.type = kind_traits<account_settings>::created;
  e.entity_id = 1;
  e.object = encode_object(value);
  auto st = s.apply(e);
  BOOST_REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.err().message));
}

// Every rule and setting of a golden case.
void set_up(account_state& s, const rapidjson::Value& c) {
  create_rules<passthrough_referrer>(s, c["passthrough"]);
  create_rules<referrer_mapping>(s, c["mappings"]);
  if (c.HasMember("channel_rules")) create_rules<channel_rule>(s, c["channel_rules"]);
  if (c.HasMember("settings")) apply_settings(s, c["settings"]);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(resolver)

BOOST_AUTO_TEST_CASE(golden_vectors_resolve_as_expected) {
  auto doc = parse(read_file(std::string(REFERRALD_VECTORS_DIR) + "/attribution.json"));
  const auto& cases = doc["cases"];
  BOOST_REQUIRE(cases.Size() > 50u);
  for (const auto& c : cases.GetArray()) {
    std::string name = c["name"].GetString();
    account_state s("golden");
    set_up(s, c);
    s.refresh_indexes();
    auto v = parse_visit(c["visit"]);
    BOOST_REQUIRE_MESSAGE(v.ok(), name << ": " << (v.ok() ? "" : v.err().message));
    std::string out;
    append_json(out, resolve(s, *v));
    auto got = parse(out);
    BOOST_TEST((got == c["expected"]), name << "\n  got      " << to_text(got) << "\n  expected "
                                            << to_text(c["expected"]));
  }
}

// Reads `text` with the strict parser (UTF-8 validated) and checks every member the
// description of the answer declares against the resolution's own values.
void check_against_parser(const std::string& text, const resolution& r, const std::string& name) {
  rapidjson::Document got;
  BOOST_REQUIRE_MESSAGE(parse_json(text, got).ok(), name << ": not JSON: " << text);
  BOOST_REQUIRE(got.IsObject());
  BOOST_TEST(got.MemberCount() == resolution_fields().size(), name);
  auto string_of = [](const rapidjson::Value& v) {
    return std::string(v.GetString(), v.GetStringLength());
  };
  // The writer replaces bytes that are not UTF-8; what a test compares is valid UTF-8.
  std::function<void(const rapidjson::Value&, std::span<const answer_field>)> check =
      [&](const rapidjson::Value& obj, std::span<const answer_field> fields) {
        for (const auto& f : fields) {
          auto it = obj.FindMember(rapidjson::StringRef(f.name.data(), f.name.size()));
          BOOST_REQUIRE_MESSAGE(it != obj.MemberEnd(), name << ": no " << f.name);
          const auto& v = it->value;
          const bool null =
              (f.type == answer_type::nullable_text || f.type == answer_type::object) &&
              !f.present(r);
          if (null) {
            BOOST_TEST(v.IsNull(), name << ": " << f.name);
            continue;
          }
          switch (f.type) {
            case answer_type::text:
            case answer_type::nullable_text:
              BOOST_REQUIRE(v.IsString());
              BOOST_TEST(string_of(v) == std::string(f.text(r)), name << ": " << f.name);
              break;
            case answer_type::integer:
              BOOST_REQUIRE(v.IsInt64());
              BOOST_TEST(v.GetInt64() == f.number(r), name << ": " << f.name);
              break;
            case answer_type::object:
              BOOST_REQUIRE(v.IsObject());
              check(v, f.members);
              break;
            case answer_type::text_list: {
              BOOST_REQUIRE(v.IsArray());
              const auto& items = f.list(r);
              BOOST_REQUIRE(v.Size() == items.size());
              for (rapidjson::SizeType i = 0; i < v.Size(); ++i)
                BOOST_TEST(string_of(v[i]) == items[i], name << ": " << f.name);
              break;
            }
          }
        }
      };
  check(got, resolution_fields());
}

BOOST_AUTO_TEST_CASE(the_writer_writes_what_a_strict_parser_reads_back_as_the_resolution) {
  auto doc = parse(read_file(std::string(REFERRALD_VECTORS_DIR) + "/attribution.json"));
  for (const auto& c : doc["cases"].GetArray()) {
    account_state s("golden");
    set_up(s, c);
    s.refresh_indexes();
    auto v = parse_visit(c["visit"]);
    BOOST_REQUIRE(v.ok());
    auto r = resolve(s, *v);
    std::string out;
    append_json(out, r);
    check_against_parser(out, r, c["name"].GetString());
  }
}

BOOST_AUTO_TEST_CASE(the_answer_names_its_members_and_columns_in_the_documented_order) {
  BOOST_TEST((std::vector<std::string_view>(json_members().begin(), json_members().end()) ==
              std::vector<std::string_view>{"utm_source", "utm_medium", "utm_campaign", "utm_term",
                                            "utm_content", "reason", "rule", "referrer_host",
                                            "ai_platform", "known_referrer", "click_id", "channel",
                                            "channel_rule", "warnings"}));
  BOOST_TEST((std::vector<std::string_view>(csv_columns().begin(), csv_columns().end()) ==
              std::vector<std::string_view>{"utm_source", "utm_medium", "utm_campaign", "utm_term",
                                            "utm_content", "reason", "rule_type", "rule_id",
                                            "referrer_host", "ai_platform", "known_referrer",
                                            "click_id", "channel", "channel_rule_id", "warnings"}));
  auto schema = parse(resolution_json_schema());
  BOOST_TEST(schema["required"].Size() == json_members().size());
  BOOST_TEST(schema["properties"]["reason"]["enum"].Size() == all_reasons().size());
}

// The writer makes room from the strings' sizes: strings at their escaped worst (control
// bytes become six, bytes that are not UTF-8 become three) are written whole, after what
// the buffer already held, and read back by the strict parser.
BOOST_AUTO_TEST_CASE(a_result_of_strings_at_their_escaped_worst_is_written_whole) {
  const std::string controls(300, '\x01');
  const std::string not_utf8(300, '\xFF');
  // Each kind of string on its own, so that no other's room hides a shortfall.
  resolution values;
  values.utms = {controls, not_utf8, controls + "\"\\", std::string(5000, '\x1F'), "b\xC3\xBC"};
  values.referrer_host = controls;
  resolution warnings;
  warnings.warnings = {controls, not_utf8, std::string(20000, '\n')};
  for (resolution* r : {&values, &warnings}) {
    r->reason = "utm";
    r->channel = "Email";
    std::string appended = "[";
    append_json(appended, *r);
    BOOST_TEST(appended.starts_with("[{"));
    rapidjson::Document got;
    BOOST_REQUIRE(parse_json(appended.substr(1), got).ok());
    // Control characters come back as they were; bytes that are not UTF-8 as U+FFFD each.
    if (r == &values) {
      BOOST_TEST(std::string(got["utm_source"].GetString()) == controls);
      BOOST_TEST(std::string(got["utm_campaign"].GetString()) == controls + "\"\\");
      BOOST_TEST(got["utm_term"].GetStringLength() == 5000u);
      BOOST_TEST(got["utm_medium"].GetStringLength() == 300u * 3);
      BOOST_TEST(std::string(got["referrer_host"].GetString()) == controls);
    } else {
      BOOST_TEST(got["warnings"][2].GetStringLength() == 20000u);
      BOOST_TEST(std::string(got["warnings"][0].GetString()) == controls);
    }
  }
}

BOOST_AUTO_TEST_CASE(explain_lists_every_step_and_every_rule_checked) {
  account_state s("acme");
  auto rules = parse(
      R"([{"referrer_pattern":"partner","match_type":"contains","utm_source":"low","priority":1},
                         {"referrer_pattern":"partner.com","match_type":"ends_with","utm_source":"high","priority":9},
                         {"referrer_pattern":"other.com","utm_source":"x"}])");
  create_rules<referrer_mapping>(s, rules);
  s.refresh_indexes();
  auto v = parse_visit(
      parse(R"({"referrer":"https://shop.partner.com","landing_url":"https://h.example/"})"));
  BOOST_REQUIRE(v.ok());
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  auto r = resolve(s, *v, &w);
  BOOST_TEST(r.reason == "mapping");
  auto steps = parse(buf.GetString());
  BOOST_REQUIRE(steps.IsArray());
  BOOST_TEST(steps.Size() == 10u);
  std::vector<std::string> names;
  int deciding = 0;
  for (const auto& st : steps.GetArray()) {
    names.push_back(st["step"].GetString());
    if (st["decides"].GetBool()) ++deciding;
  }
  BOOST_TEST(names == (std::vector<std::string>{"utm", "click_id", "internal", "passthrough",
                                                "mapping", "ai_platform", "known_referrer",
                                                "referral", "direct", "channel"}));
  BOOST_TEST(deciding == 1);
  const auto& mapping = steps[4];
  BOOST_TEST(mapping["decides"].GetBool());
  BOOST_REQUIRE(mapping["rules"].Size() == 3u);
  // In rank order: the winner, the one that lost on priority, the one that missed.
  BOOST_TEST(mapping["rules"][0]["id"].GetInt() == 2);
  BOOST_TEST(mapping["rules"][0]["matched"].GetBool());
  BOOST_TEST(mapping["rules"][1]["id"].GetInt() == 1);
  BOOST_TEST(mapping["rules"][1]["matched"].GetBool());
  BOOST_TEST(
      std::string(mapping["rules"][1]["note"].GetString()).find("loses on priority to mapping 2") !=
      std::string::npos);
  BOOST_TEST(!mapping["rules"][2]["matched"].GetBool());
  // The referral step applies too, but does not decide.
  BOOST_TEST(steps[7]["applies"].GetBool());
  BOOST_TEST(!steps[7]["decides"].GetBool());
  // The channel follows the answer: the mapping gives medium referral by default.
  BOOST_TEST(std::string(steps[9]["why"].GetString()).starts_with("Referral: "),
             steps[9]["why"].GetString());
}

BOOST_AUTO_TEST_CASE(one_unreadable_url_never_loses_a_visit) {
  for (std::string_view body :
       {R"({"landing_url":"/relative/path"})", R"({"landing_url":"https://"})",
        R"({"landing_url":"https://h.example/","referrer":"https://"})",
        R"({"landing_url":"https://h.example/","referrer":"about:blank"})",
        R"({"landing_url":"http://[/","referrer":"http://[]/"})"}) {
    auto v = parse_visit(parse(body), 4);
    BOOST_REQUIRE_MESSAGE(v.ok(), body);
    BOOST_TEST(!v->warnings.empty(), body);
    account_state s("acme");
    auto r = resolve(s, *v);
    BOOST_TEST(r.reason == "direct", body);
  }
  auto ftp = parse_visit(parse(R"({"landing_url":"ftp://files.example/x"})"));
  BOOST_REQUIRE(ftp.ok());
  BOOST_TEST(ftp->landing_host == "files.example");
}

BOOST_AUTO_TEST_CASE(visits_are_validated_with_field_names) {
  auto bad = [](std::string_view body, const std::string& field) {
    auto v = parse_visit(parse(body), 4);
    return referrald::testing::names_field(v, field);
  };
  BOOST_TEST(bad(R"({"referrer":"x.com"})", "visits[4].landing_url"));
  BOOST_TEST(bad(R"({"landing_url":7})", "visits[4].landing_url"));
  BOOST_TEST(bad(R"({"landing_url":"https://h.example/","referrer":5})", "visits[4].referrer"));
  BOOST_TEST(bad(R"({"landing_url":"https://h.example/","session":{"utm_source":"a\u0000b"}})",
                 "visits[4].session.utm_source"));
  BOOST_TEST(bad(R"({"landing_url":"https://h.example/","session":{"utm_term":"\u202Eevil"}})",
                 "visits[4].session.utm_term"));
  BOOST_TEST(bad(R"({"landing_url":"https://h.example/","session":"x"})", "visits[4].session"));
  BOOST_TEST(bad(R"({"landing_url":"https://h.example/","session":{"utm_source":1}})",
                 "visits[4].session.utm_source"));
  BOOST_TEST(bad(R"({"landing_url":"https://h.example/","session":{"gclid":"x"}})",
                 "visits[4].session.gclid"));
  BOOST_TEST(bad(R"({"landing_url":"https://h.example/","extra":1})", "visits[4].extra"));
  BOOST_TEST(bad(R"([1,2])", "visits[4]"));  // the visit as a whole, not "visits[4]."
  BOOST_TEST(parse_visit(parse(R"({"landing_url":"HTTPS://H.example"})")).ok());
}

BOOST_AUTO_TEST_SUITE_END()
