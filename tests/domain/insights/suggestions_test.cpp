#include "domain/insights/suggestions.hpp"

#include <rapidjson/document.h>

#include <boost/test/unit_test.hpp>
#include <string>

#include "domain/base/json.hpp"
#include "domain/rules/channel_rule.hpp"
#include "domain/rules/mapping.hpp"
#include "domain/rules/passthrough.hpp"
#include "domain/web/host.hpp"

using namespace referrald::domain;

namespace {

host_stats stats(std::uint64_t with_session, std::initializer_list<std::string> landing) {
  host_stats s;
  s.with_session = with_session;
  std::size_t i = 0;
  for (const auto& h : landing)
    s.landing_hosts[i++] = h;
  return s;
}

rapidjson::Document body_of(const suggestion& s) {
  rapidjson::Document doc;
  BOOST_REQUIRE_MESSAGE(parse_json(s.body, doc).ok(), s.body);
  return doc;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(suggestions_suite)

BOOST_AUTO_TEST_CASE(registrable_domains_follow_the_public_suffix_list) {
  BOOST_TEST(registrable_domain("shop.example.co.uk") == "example.co.uk");
  BOOST_TEST(registrable_domain("secure.paypal.com") == "paypal.com");
  BOOST_TEST(registrable_domain("paypal.com") == "paypal.com");
  BOOST_TEST(registrable_domain("user.github.io") == "user.github.io");
  BOOST_TEST(registrable_domain("127.0.0.1") == "127.0.0.1");
  BOOST_TEST(registrable_domain("co.uk") == "co.uk");
}

BOOST_AUTO_TEST_CASE(a_payment_page_of_the_starter_pack_is_a_passthrough_at_its_first_visit) {
  account_settings settings;
  auto s = suggest_for_host("www.paypal.com", 1, stats(0, {"shop.example"}), settings);
  BOOST_TEST(s.kind == suggestion_kinds::passthrough);
  BOOST_TEST(s.method == "POST");
  BOOST_TEST(s.path == "/passthrough-referrers");
  auto body = body_of(s);
  BOOST_TEST(std::string(body["domain"].GetString()) == "paypal.com");
  BOOST_TEST(std::string(body["utm_source"].GetString()) == "paypal");
  BOOST_TEST(s.reason.find("starter pack") != std::string::npos, s.reason);
}

BOOST_AUTO_TEST_CASE(a_page_most_of_whose_visits_carry_a_session_is_a_passthrough) {
  account_settings settings;
  auto s = suggest_for_host("acs.bank-three-d.example", 10, stats(8, {"shop.example"}), settings);
  BOOST_TEST(s.kind == suggestion_kinds::passthrough);
  auto body = body_of(s);
  BOOST_TEST(std::string(body["domain"].GetString()) == "bank-three-d.example");
  BOOST_TEST(s.reason.find("8 visits of 10") != std::string::npos, s.reason);
  // Half of them is not most.
  auto half =
      suggest_for_host("acs.bank-three-d.example", 10, stats(5, {"shop.example"}), settings);
  BOOST_TEST(half.kind == suggestion_kinds::mapping);
}

BOOST_AUTO_TEST_CASE(a_recurring_partner_is_a_mapping_and_a_rare_one_nothing) {
  account_settings settings;
  auto s = suggest_for_host("blog.partner.co.uk", 12, stats(1, {"shop.example"}), settings);
  BOOST_TEST(s.kind == suggestion_kinds::mapping);
  BOOST_TEST(s.path == "/referrer-mappings");
  auto body = body_of(s);
  BOOST_TEST(std::string(body["referrer_pattern"].GetString()) == "partner.co.uk");
  BOOST_TEST(std::string(body["match_type"].GetString()) == "ends_with");
  BOOST_TEST(std::string(body["utm_source"].GetString()) == "partner");
  auto exact = body_of(suggest_for_host("partner.co.uk", 12, stats(0, {}), settings));
  BOOST_TEST(std::string(exact["match_type"].GetString()) == "exact");
  auto rare = suggest_for_host("blog.partner.co.uk", 4, stats(0, {"shop.example"}), settings);
  BOOST_TEST(rare.kind == suggestion_kinds::nothing);
  BOOST_TEST(rare.reason == "4 visits, fewer than 5: too few to suggest a rule");
  BOOST_TEST(rare.body.empty());
}

BOOST_AUTO_TEST_CASE(a_subdomain_of_the_site_is_its_own_domain) {
  account_settings settings;
  settings.own_domains = {"hotel-shop.example"};
  auto s = suggest_for_host("blog.hotel.example", 2, stats(0, {"www.hotel.example"}), settings);
  BOOST_TEST(s.kind == suggestion_kinds::own_domain);
  BOOST_TEST(s.method == "PATCH");
  BOOST_TEST(s.path == "/settings");
  auto body = body_of(s);
  BOOST_REQUIRE(body["own_domains"].IsArray());
  BOOST_TEST(body["own_domains"].Size() == 2u);
  BOOST_TEST(std::string(body["own_domains"][0].GetString()) == "hotel-shop.example");
  BOOST_TEST(std::string(body["own_domains"][1].GetString()) == "*.hotel.example");
}

BOOST_AUTO_TEST_CASE(an_unknown_medium_gets_the_channel_it_most_likely_means) {
  BOOST_TEST(likely_channel("weekly-newsletter") == "Email");
  BOOST_TEST(likely_channel("Emial") == "Email");
  BOOST_TEST(likely_channel("refferal") == "Referral");
  BOOST_TEST(likely_channel("affiliate_network") == "Affiliates");
  BOOST_TEST(likely_channel("cpc") == "Paid Search");
  BOOST_TEST(likely_channel("happy") == "");
  BOOST_TEST(likely_channel("qzx") == "");
  auto s = suggest_for_medium("weekly-newsletter", 30);
  BOOST_TEST(s.kind == suggestion_kinds::channel_rule);
  BOOST_TEST(s.path == "/channel-rules");
  auto body = body_of(s);
  BOOST_TEST(std::string(body["channel"].GetString()) == "Email");
  BOOST_TEST(std::string(body["name"].GetString()) == "utm_medium weekly-newsletter");
  BOOST_TEST(std::string(body["utm_medium"][0].GetString()) == "weekly-newsletter");
  BOOST_TEST(suggest_for_medium("weekly-newsletter", 2).kind == suggestion_kinds::nothing);
  BOOST_TEST(suggest_for_medium("qzx", 50).kind == suggestion_kinds::nothing);
  // A long value is cut at a character's start for the rule's name.
  std::string long_medium(79, 'a');
  long_medium += "é-newsletter";
  auto cut = body_of(suggest_for_medium(long_medium, 30));
  BOOST_TEST(std::string(cut["name"].GetString()) == "utm_medium " + std::string(79, 'a'));
}

BOOST_AUTO_TEST_CASE(a_dismissed_host_or_medium_is_not_suggested_again) {
  account_settings settings;
  settings.insights_dismissed_hosts = {"old.partner.example"};
  // Not dismissed yet: the suggestion, and the request that dismisses it, keeping the list.
  auto s = suggest_for_host("blog.partner.example", 12, stats(0, {"shop.example"}), settings);
  BOOST_TEST(s.kind == suggestion_kinds::mapping);
  BOOST_TEST(s.dismiss ==
             R"({"insights_dismissed_hosts":["old.partner.example","blog.partner.example"]})");
  // Dismissed: nothing else is suggested, and there is nothing left to dismiss.
  settings.insights_dismissed_hosts.push_back("blog.partner.example");
  auto gone = suggest_for_host("blog.partner.example", 12, stats(0, {"shop.example"}), settings);
  BOOST_TEST(gone.kind == suggestion_kinds::dismissed);
  BOOST_TEST(gone.body.empty());
  BOOST_TEST(gone.dismiss.empty());
  // Even a host of the starter pack.
  settings.insights_dismissed_hosts.push_back("www.paypal.com");
  BOOST_TEST(suggest_for_host("www.paypal.com", 50, stats(50, {}), settings).kind ==
             suggestion_kinds::dismissed);
  // Mediums the same way, in their own list.
  auto m = suggest_for_medium("weekly-newsletter", 30, settings);
  BOOST_TEST(m.kind == suggestion_kinds::channel_rule);
  BOOST_TEST(m.dismiss == R"({"insights_dismissed_mediums":["weekly-newsletter"]})");
  settings.insights_dismissed_mediums = {"weekly-newsletter"};
  BOOST_TEST(suggest_for_medium("weekly-newsletter", 30, settings).kind ==
             suggestion_kinds::dismissed);
}

BOOST_AUTO_TEST_SUITE_END()
