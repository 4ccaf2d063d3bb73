#include "domain/rules/mapping.hpp"
#include "domain/rules/entities.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <boost/test/unit_test.hpp>

#include "tests/support/json_body.hpp"

using namespace referrald::domain;

namespace {

using referrald::testing::names_field;
using referrald::testing::parse;

result<referrer_mapping> create(std::string_view text) {
  auto d = parse(text);
  return parse_create<referrer_mapping>(d);
}

bool fails_on(std::string_view text, std::string_view field) {
  return names_field(create(text), field);
}

referrer_mapping rule(match_type t, std::string pattern) {
  auto n = normalize_pattern(pattern, t);
  BOOST_REQUIRE_MESSAGE(n.ok(), (n.ok() ? "" : n.err().message));
  referrer_mapping m;
  m.match_type = t;
  m.referrer_pattern = n->pattern;
  m.regex = n->regex;
  return m;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(mapping)

BOOST_AUTO_TEST_CASE(create_applies_documented_defaults) {
  auto m = create(R"({"referrer_pattern": "https://Partner-Site.com/page", "utm_source": "p"})");
  BOOST_REQUIRE(m.ok());
  BOOST_TEST(m->referrer_pattern == "partner-site.com");
  BOOST_TEST((m->match_type == match_type::exact));
  BOOST_TEST(m->utm_medium == "referral");
  BOOST_TEST(m->utm_campaign == "");
  BOOST_TEST(m->utm_term == "");
  BOOST_TEST(m->utm_content == "");
  BOOST_TEST(m->label == "");
  BOOST_TEST(!m->description.has_value());
  BOOST_TEST(m->priority == 0);
  BOOST_TEST(m->is_active);
}

BOOST_AUTO_TEST_CASE(every_field_is_validated) {
  std::string s256(256, 'x'), s101(101, 'x'), s501(501, 'x');
  auto with = [](const std::string& extra) {
    return R"({"referrer_pattern":"a.com","utm_source":"s",)" + extra + "}";
  };
  BOOST_TEST(fails_on(R"({"utm_source":"s"})", "referrer_pattern"));
  BOOST_TEST(fails_on(R"({"referrer_pattern":"a.com"})", "utm_source"));
  BOOST_TEST(fails_on(R"({"referrer_pattern":"","utm_source":"s"})", "referrer_pattern"));
  BOOST_TEST(
      fails_on(R"({"referrer_pattern":")" + s256 + R"(","utm_source":"s"})", "referrer_pattern"));
  BOOST_TEST(fails_on(with(R"("match_type":"fuzzy")"), "match_type"));
  BOOST_TEST(fails_on(with(R"("match_type":"EXACT")"), "match_type"));
  BOOST_TEST(fails_on(with(R"("match_type":null)"), "match_type"));
  BOOST_TEST(fails_on(with(R"("match_type":1)"), "match_type"));
  BOOST_TEST(
      fails_on(R"({"referrer_pattern":"a.com","utm_source":")" + s256 + R"("})", "utm_source"));
  BOOST_TEST(fails_on(with(R"("utm_medium":")" + s101 + "\""), "utm_medium"));
  BOOST_TEST(fails_on(with(R"("utm_campaign":")" + s256 + "\""), "utm_campaign"));
  BOOST_TEST(fails_on(with(R"("utm_term":")" + s256 + "\""), "utm_term"));
  BOOST_TEST(fails_on(with(R"("utm_content":")" + s256 + "\""), "utm_content"));
  BOOST_TEST(fails_on(with(R"("label":")" + s101 + "\""), "label"));
  BOOST_TEST(fails_on(with(R"("label":null)"), "label"));
  BOOST_TEST(fails_on(with(R"("description":")" + s501 + "\""), "description"));
  BOOST_TEST(fails_on(with(R"("description":7)"), "description"));
  BOOST_TEST(fails_on(with(R"("priority":-1)"), "priority"));
  BOOST_TEST(fails_on(with(R"("priority":1001)"), "priority"));
  BOOST_TEST(fails_on(with(R"("priority":"5")"), "priority"));
  BOOST_TEST(fails_on(with(R"("priority":5.5)"), "priority"));
  BOOST_TEST(fails_on(with(R"("is_active":"no")"), "is_active"));
  BOOST_TEST(fails_on(with(R"("id":1)"), "id"));
  BOOST_TEST(fails_on(with(R"("updated_at":"x")"), "updated_at"));
  BOOST_TEST(fails_on(with(R"("domain":"x")"), "domain"));
  BOOST_TEST(create(with(R"("priority":1000,"description":null,"label":"L")")).ok());
  BOOST_TEST(create(with(R"("priority":0,"description":")" + std::string(500, 'd') + "\"")).ok());
}

BOOST_AUTO_TEST_CASE(non_regex_patterns_are_normalized_like_hosts) {
  BOOST_TEST(rule(match_type::exact, "HTTPS://WWW.Partner.com:443/x?y").referrer_pattern ==
             "partner.com");
  BOOST_TEST(rule(match_type::contains, "Partner").referrer_pattern == "partner");
  // A trailing dot is meaningful in a prefix (and only there).
  BOOST_TEST(rule(match_type::starts_with, "shop.").referrer_pattern == "shop.");
  BOOST_TEST(rule(match_type::exact, "shop.example.").referrer_pattern == "shop.example");
  BOOST_TEST(rule(match_type::ends_with, ".partner.com").referrer_pattern == "partner.com");
  BOOST_TEST(rule(match_type::ends_with,
                  "b\xC3\xBC"
                  "cher.de")
                 .referrer_pattern == "xn--bcher-kva.de");
  BOOST_TEST(!normalize_pattern("a b", match_type::contains).ok());
  BOOST_TEST(!normalize_pattern("^a", match_type::exact).ok());
  BOOST_TEST(!normalize_pattern("...", match_type::ends_with).ok());
  // A regex is kept as written (trimmed by the reader).
  BOOST_TEST(rule(match_type::regex, "^Shop\\.").referrer_pattern == "^Shop\\.");
}

BOOST_AUTO_TEST_CASE(a_regex_that_does_not_compile_quotes_pcre2) {
  auto r = create(R"({"referrer_pattern":"(a+","match_type":"regex","utm_source":"s"})");
  BOOST_REQUIRE(!r.ok());
  BOOST_REQUIRE(r.err().details.size() == 1u);
  BOOST_TEST(r.err().details[0].field == "referrer_pattern");
  BOOST_TEST(r.err().details[0].message ==
             "is not a valid regular expression: missing closing parenthesis at offset 3");
  auto bad_class = create(R"({"referrer_pattern":"[z-a]","match_type":"regex","utm_source":"s"})");
  BOOST_REQUIRE(!bad_class.ok());
  BOOST_TEST(bad_class.err().message.find("offset 3") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(each_match_type_matches_as_documented) {
  auto exact = rule(match_type::exact, "partner.com");
  BOOST_TEST(exact.matches("partner.com"));
  BOOST_TEST(!exact.matches("shop.partner.com"));
  auto contains = rule(match_type::contains, "partner");
  BOOST_TEST(contains.matches("mypartnersite.com"));
  BOOST_TEST(!contains.matches("partne.com"));
  auto starts = rule(match_type::starts_with, "shop.");
  BOOST_TEST(!starts.matches("shopify.com"));  // "news." must not match "newsroom.example"
  BOOST_TEST(starts.matches("shop.example.com"));
  auto starts_full = rule(match_type::starts_with, "shop.example");
  BOOST_TEST(starts_full.matches("shop.example.com"));
  BOOST_TEST(!starts_full.matches("myshop.example.com"));
  auto ends = rule(match_type::ends_with, "partner.com");
  BOOST_TEST(ends.matches("partner.com"));
  BOOST_TEST(ends.matches("shop.partner.com"));
  BOOST_TEST(!ends.matches("notpartner.com"));
  BOOST_TEST(!ends.matches("partner.com.evil.net"));
  auto re = rule(match_type::regex, "^SHOP\\.[a-z]+\\.example$");
  BOOST_TEST(re.matches("shop.abc.example"));  // caseless
  BOOST_TEST(!re.matches("shop.abc.example.com"));
}

BOOST_AUTO_TEST_CASE(patch_renormalizes_and_reports_changes) {
  auto patch = [](std::string_view text) {
    auto d = parse(text);
    auto p = parse_patch<referrer_mapping>(d);
    BOOST_REQUIRE_MESSAGE(p.ok(), (p.ok() ? "" : p.err().message));
    return *p;
  };
  referrer_mapping m = rule(match_type::exact, "partner.com");
  m.utm_source = "s";
  auto changed = apply_patch(m, patch(R"({"match_type": "ends_with"})"));
  BOOST_REQUIRE(changed.ok());
  BOOST_TEST(*changed == (std::vector<std::string>{"match_type"}));
  BOOST_TEST((m.match_type == match_type::ends_with));

  BOOST_REQUIRE(
      apply_patch(m, patch(R"({"match_type": "regex", "referrer_pattern": "^(a|b)\\.com$"})"))
          .ok());
  BOOST_REQUIRE(m.regex != nullptr);
  BOOST_TEST(m.matches("b.com"));

  // Back to exact without a new pattern: the regex text is no host.
  referrer_mapping before = m;
  auto refused = apply_patch(m, patch(R"({"match_type": "exact"})"));
  BOOST_REQUIRE(!refused.ok());
  BOOST_TEST(refused.err().details[0].field == "referrer_pattern");
  BOOST_TEST((m == before));  // a refused patch changes nothing

  auto none = apply_patch(m, patch(R"({"utm_source": "s", "referrer_pattern": "^(a|b)\\.com$"})"));
  BOOST_REQUIRE(none.ok());
  BOOST_TEST(none->empty());
}

BOOST_AUTO_TEST_CASE(json_round_trips_and_recompiles_regexes) {
  referrer_mapping m = rule(match_type::regex, "^shop\\.");
  m.id = 7;
  m.utm_source = "s";
  m.description = "d";
  m.priority = 100;
  m.created_at = 1736071200000;
  m.updated_at = 1736071200001;
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  write_json(w, "acme", m);
  auto d = parse(buf.GetString());
  BOOST_TEST(d.MemberCount() == 15u);
  auto back = decode_object<referrer_mapping>(object_format::json, buf.GetString());
  BOOST_REQUIRE(back.ok());
  BOOST_TEST((*back == m));
  BOOST_REQUIRE(back->regex != nullptr);
  BOOST_TEST(back->matches("shop.x"));
}

BOOST_AUTO_TEST_SUITE_END()
