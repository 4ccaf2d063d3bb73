#include "domain/rules/passthrough.hpp"
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

result<passthrough_referrer> create(std::string_view text) {
  auto d = parse(text);
  return parse_create<passthrough_referrer>(d);
}

bool fails_on(std::string_view text, std::string_view field) {
  return names_field(create(text), field);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(passthrough)

BOOST_AUTO_TEST_CASE(create_applies_documented_defaults) {
  auto r = create(R"({"domain": "https://Booking.Mirai.com/x", "utm_source": "mirai"})");
  BOOST_REQUIRE(r.ok());
  BOOST_TEST(r->domain == "booking.mirai.com");
  BOOST_TEST(r->utm_source == "mirai");
  BOOST_TEST(r->utm_medium == "passthrough");
  BOOST_TEST(r->utm_campaign == "");
  BOOST_TEST(r->utm_term == "");
  BOOST_TEST(!r->service_name.has_value());
  BOOST_TEST(r->is_active);
}

BOOST_AUTO_TEST_CASE(create_keeps_every_given_field) {
  auto r = create(R"({"domain": "pay.example.com", "utm_source": " s ", "utm_medium": "m",
      "utm_campaign": "c", "utm_term": "t", "service_name": "Pay", "is_active": false})");
  BOOST_REQUIRE(r.ok());
  BOOST_TEST(r->utm_source == "s");
  BOOST_TEST(r->utm_medium == "m");
  BOOST_TEST(r->utm_campaign == "c");
  BOOST_TEST(r->utm_term == "t");
  BOOST_TEST(*r->service_name == "Pay");
  BOOST_TEST(!r->is_active);
}

BOOST_AUTO_TEST_CASE(create_requires_domain_and_utm_source) {
  BOOST_TEST(fails_on(R"({"utm_source": "a"})", "domain"));
  BOOST_TEST(fails_on(R"({"domain": "a.com"})", "utm_source"));
  BOOST_TEST(fails_on(R"({"domain": "a.com", "utm_source": ""})", "utm_source"));
}

BOOST_AUTO_TEST_CASE(create_checks_every_length_limit) {
  std::string s256(256, 'x');
  std::string s255(255, 'x');
  std::string s101(101, 'x');
  std::string s100(100, 'x');
  auto body = [](std::string field, std::string value) {
    return R"({"domain": "a.com", "utm_source": "s", )" + field + R"(: ")" + value + R"("})";
  };
  BOOST_TEST(fails_on(R"({"domain": "a.com", "utm_source": ")" + s256 + R"("})", "utm_source"));
  BOOST_TEST(create(R"({"domain": "a.com", "utm_source": ")" + s255 + R"("})").ok());
  BOOST_TEST(fails_on(body("\"utm_medium\"", s101), "utm_medium"));
  BOOST_TEST(create(body("\"utm_medium\"", s100)).ok());
  BOOST_TEST(fails_on(body("\"utm_campaign\"", s256), "utm_campaign"));
  BOOST_TEST(create(body("\"utm_campaign\"", s255)).ok());
  BOOST_TEST(fails_on(body("\"utm_term\"", s256), "utm_term"));
  BOOST_TEST(fails_on(body("\"service_name\"", s101), "service_name"));
  BOOST_TEST(create(body("\"service_name\"", s100)).ok());
  std::string long_domain = std::string(250, 'a') + ".com.x";  // 256 chars
  BOOST_TEST(fails_on(R"({"domain": ")" + long_domain + R"(", "utm_source": "s"})", "domain"));
}

BOOST_AUTO_TEST_CASE(create_checks_every_type) {
  BOOST_TEST(fails_on(R"({"domain": 5, "utm_source": "s"})", "domain"));
  BOOST_TEST(fails_on(R"({"domain": "a.com", "utm_source": ["s"]})", "utm_source"));
  BOOST_TEST(
      fails_on(R"({"domain": "a.com", "utm_source": "s", "utm_medium": null})", "utm_medium"));
  BOOST_TEST(
      fails_on(R"({"domain": "a.com", "utm_source": "s", "is_active": "yes"})", "is_active"));
  BOOST_TEST(
      fails_on(R"({"domain": "a.com", "utm_source": "s", "service_name": 1})", "service_name"));
  BOOST_TEST(create(R"({"domain": "a.com", "utm_source": "s", "service_name": null})").ok());
}

BOOST_AUTO_TEST_CASE(create_rejects_invalid_domains) {
  for (const char* d : {"localhost", "bad_domain.com", "-a.com", "https://", "  ", "a..b",
                        "exa mple.com", "[::1]"}) {
    BOOST_TEST(fails_on(std::string(R"({"utm_source": "s", "domain": ")") + d + "\"}", "domain"),
               d);
  }
}

BOOST_AUTO_TEST_CASE(create_rejects_unknown_and_read_only_fields) {
  BOOST_TEST(fails_on(R"({"domain": "a.com", "utm_source": "s", "id": 4})", "id"));
  BOOST_TEST(
      fails_on(R"({"domain": "a.com", "utm_source": "s", "account_id": "x"})", "account_id"));
  BOOST_TEST(
      fails_on(R"({"domain": "a.com", "utm_source": "s", "utm_content": "x"})", "utm_content"));
}

BOOST_AUTO_TEST_CASE(patch_changes_only_given_fields_and_reports_them) {
  passthrough_referrer r;
  r.domain = "a.com";
  r.utm_source = "s";
  r.service_name = "old";
  auto d = parse(R"({"utm_source": "s", "utm_medium": "m2", "service_name": null,
                     "domain": "WWW.A.com"})");
  auto p = parse_patch<passthrough_referrer>(d);
  BOOST_REQUIRE(p.ok());
  auto changed = apply_patch(r, *p);
  BOOST_REQUIRE(changed.ok());
  BOOST_TEST(*changed == (std::vector<std::string>{"utm_medium", "service_name"}));
  BOOST_TEST(r.domain == "a.com");
  BOOST_TEST(r.utm_medium == "m2");
  BOOST_TEST(!r.service_name.has_value());
}

BOOST_AUTO_TEST_CASE(patch_validates_like_create) {
  auto bad = [](std::string_view text) {
    auto d = parse(text);
    return !parse_patch<passthrough_referrer>(d).ok();
  };
  BOOST_TEST(bad(R"({"utm_source": ""})"));
  BOOST_TEST(bad(R"({"domain": "nodots"})"));
  BOOST_TEST(bad(R"({"is_active": 1})"));
  BOOST_TEST(bad(R"({"updated_at": "2025-01-01T00:00:00Z"})"));
  BOOST_TEST(bad(R"({"color": "red"})"));
  BOOST_TEST(bad("[]"));
  BOOST_TEST(!bad("{}"));
}

BOOST_AUTO_TEST_CASE(json_round_trips) {
  passthrough_referrer r;
  r.id = 4;
  r.domain = "booking.mirai.com";
  r.utm_source = "mirai";
  r.service_name = "Mirai Booking Engine";
  r.created_at = 1736071200000;
  r.updated_at = 1736071200123;
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  write_json(w, "acme", r);
  auto d = parse(buf.GetString());
  BOOST_TEST(std::string(d["account_id"].GetString()) == "acme");
  BOOST_TEST(std::string(d["created_at"].GetString()) == "2025-01-05T10:00:00.000Z");
  auto back = decode_object<passthrough_referrer>(object_format::json, buf.GetString());
  BOOST_REQUIRE(back.ok());
  BOOST_TEST((*back == r));
}

BOOST_AUTO_TEST_SUITE_END()
