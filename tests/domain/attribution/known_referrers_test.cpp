// The known-referrer list compiled in, its host matching, click ids, and the default
// channel group condition by condition.

#include "domain/attribution/known_referrers.hpp"

#include <boost/test/unit_test.hpp>

#include "domain/attribution/channels.hpp"

using namespace referrald::domain;

namespace {

const known_referrer* find(std::string_view url, std::string_view host) {
  return known_referrer_list::builtin().lookup(url, host);
}

std::string_view channel(std::string_view source, std::string_view medium,
                         std::string_view campaign = "", bool ai = false) {
  return default_channel({source, medium, campaign, nullptr, ai}, known_referrer_list::builtin())
      .channel;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(known_referrers)

BOOST_AUTO_TEST_CASE(the_builtin_list_loads_with_its_version_and_sources) {
  const auto& list = known_referrer_list::builtin();
  BOOST_TEST(!list.version().empty());
  BOOST_TEST(list.referrers().size() > 400u);
  BOOST_TEST(list.click_ids().size() >= 15u);
  for (const auto& r : list.referrers()) {
    BOOST_TEST(!r.lists.empty(), r.name);
    BOOST_TEST(!(r.hosts.empty() && r.paths.empty()), r.name);
  }
}

BOOST_AUTO_TEST_CASE(hosts_subdomains_and_country_domains_match_lookalikes_do_not) {
  struct row {
    const char* host;
    const char* source;
    const char* medium;
  };
  for (auto [host, source, medium] :
       {row{"google.com", "google", "organic"}, row{"google.de", "google", "organic"},
        row{"google.co.uk", "google", "organic"}, row{"google.com.br", "google", "organic"},
        row{"news.google.com", "google", "organic"}, row{"m.facebook.com", "facebook", "social"},
        row{"l.facebook.com", "facebook", "social"}, row{"t.co", "twitter", "social"},
        row{"mail.google.com", "gmail", "email"}, row{"bing.com", "bing", "organic"},
        row{"duckduckgo.com", "duckduckgo", "organic"}, row{"youtube.com", "youtube", "video"},
        row{"amazon.de", "amazon", "shopping"}, row{"lnkd.in", "linkedin", "social"}}) {
    const auto* e = find(std::string("https://") + host + "/", host);
    BOOST_REQUIRE_MESSAGE(e != nullptr, host);
    BOOST_TEST(e->source == source, host);
    BOOST_TEST(e->medium == medium, host);
  }
  for (const char* host : {"google.evil.net", "notgoogle.com", "facebook.com.evil.net",
                           "example.com", "googleusercontent.evil"}) {
    BOOST_TEST(find(std::string("https://") + host + "/", host) == nullptr, host);
  }
}

BOOST_AUTO_TEST_CASE(a_path_scoped_entry_needs_its_path) {
  const auto* images = find("http://www.google.fr/imgres?q=x", "google.fr");
  BOOST_REQUIRE(images != nullptr);
  BOOST_TEST(images->name == "Google Images");
  BOOST_TEST(images->source == "google");
  const auto* web = find("http://www.google.fr/imgresx", "google.fr");
  BOOST_REQUIRE(web != nullptr);
  BOOST_TEST(web->name == "Google");
}

BOOST_AUTO_TEST_CASE(the_search_term_is_read_from_the_entrys_parameter) {
  const auto* e = find("https://www.bing.com/search?form=x&q=tarot+cards%21", "bing.com");
  BOOST_REQUIRE(e != nullptr);
  BOOST_TEST(known_referrer_list::search_term(
                 *e, "https://www.bing.com/search?form=x&q=tarot+cards%21") == "tarot cards!");
  BOOST_TEST(known_referrer_list::search_term(*e, "https://www.bing.com/") == "");
  BOOST_TEST(known_referrer_list::search_term(*e, "https://www.bing.com/?q=") == "");
  // Hostile bytes never reach the answer: controls are removed, bytes that are not UTF-8
  // become U+FFFD.
  std::string term =
      known_referrer_list::search_term(*e, "https://www.bing.com/search?q=a%00b%0Ac%FFd");
  BOOST_TEST(term ==
             "abc\xEF\xBF\xBD"
             "d");
}

BOOST_AUTO_TEST_CASE(a_name_under_any_public_suffix_matches_with_its_subdomains) {
  const auto* maps = find("https://maps.google.de/", "maps.google.de");
  BOOST_REQUIRE(maps != nullptr);
  BOOST_TEST(maps->name == "Google Maps");
  const auto* deep = find("https://www2.google.com.br/", "www2.google.com.br");
  BOOST_REQUIRE(deep != nullptr);
  BOOST_TEST(deep->source == "google");
  // Not a public suffix after the name: not Google.
  BOOST_TEST(find("https://google.example.org/", "google.example.org") == nullptr);
}

BOOST_AUTO_TEST_CASE(click_ids_are_found_ignoring_case_and_say_whether_paid) {
  const auto& list = known_referrer_list::builtin();
  const auto* g = list.find_click_id("GCLID");
  BOOST_REQUIRE(g != nullptr);
  BOOST_TEST(g->source == "google");
  BOOST_TEST(g->paid);
  const auto* fb = list.find_click_id("fbclid");
  BOOST_REQUIRE(fb != nullptr);
  BOOST_TEST(fb->source == "facebook");
  BOOST_TEST(!fb->paid);
  BOOST_TEST(fb->medium == "social");
  for (const char* name : {"ttclid", "li_fat_id", "twclid", "epik", "rdt_cid", "sccid", "msclkid",
                           "dclid", "gbraid", "wbraid"}) {
    BOOST_TEST(list.find_click_id(name) != nullptr, name);
  }
  BOOST_TEST(list.find_click_id("utm_source") == nullptr);
  BOOST_TEST(list.find_click_id("a_very_long_parameter_name") == nullptr);
}

BOOST_AUTO_TEST_CASE(every_default_channel_condition_decides_in_order) {
  BOOST_TEST(channel("(direct)", "(none)") == "Direct");
  BOOST_TEST(channel("(direct)", "(not set)") == "Direct");
  BOOST_TEST(channel("google", "cpc", "brand_cross-network") == "Cross-network");
  BOOST_TEST(channel("amazon", "cpc") == "Paid Shopping");
  BOOST_TEST(channel("newsletter", "ppc", "summer_shop") == "Paid Shopping");
  BOOST_TEST(channel("google", "cpc") == "Paid Search");
  BOOST_TEST(channel("bing.com", "paid_search") == "Paid Search");
  BOOST_TEST(channel("facebook", "cpc") == "Paid Social");
  BOOST_TEST(channel("m.facebook.com", "retargeting") == "Paid Social");
  BOOST_TEST(channel("youtube", "cpv") == "Paid Video");
  BOOST_TEST(channel("partner", "banner") == "Display");
  BOOST_TEST(channel("partner", "CPM") == "Display");  // before Paid Other, though "cpm" is paid
  BOOST_TEST(channel("partner", "display") == "Display");
  BOOST_TEST(channel("partner", "cpa") == "Paid Other");
  BOOST_TEST(channel("chatgpt", "ai", "", true) == "AI assistants");
  BOOST_TEST(channel("etsy", "referral") == "Organic Shopping");
  BOOST_TEST(channel("x", "referral", "eshop-week") == "Organic Shopping");  // e-shop
  BOOST_TEST(channel("x", "referral", "workshop-week") == "Referral");
  BOOST_TEST(channel("x", "referral", "black-friday-shop") == "Organic Shopping");
  BOOST_TEST(channel("facebook", "social") == "Organic Social");
  BOOST_TEST(channel("partner", "social-media") == "Organic Social");
  BOOST_TEST(channel("vimeo", "referral") == "Organic Video");
  BOOST_TEST(channel("partner", "video_embed") == "Organic Video");
  BOOST_TEST(channel("google", "organic") == "Organic Search");
  BOOST_TEST(channel("someengine", "organic") == "Organic Search");
  BOOST_TEST(channel("blog.example", "referral") == "Referral");
  BOOST_TEST(channel("partner", "app") == "Referral");
  BOOST_TEST(channel("newsletter", "email") == "Email");
  BOOST_TEST(channel("e-mail", "blast") == "Email");
  BOOST_TEST(channel("network", "affiliate") == "Affiliates");
  BOOST_TEST(channel("podcast", "audio") == "Audio");
  BOOST_TEST(channel("sms", "text") == "SMS");
  BOOST_TEST(channel("app", "web-push") == "Mobile Push Notifications");
  BOOST_TEST(channel("firebase", "x") == "Mobile Push Notifications");
  BOOST_TEST(channel("partner", "newsletter-x") == "Unassigned");
  BOOST_TEST(channel("", "") == "Unassigned");
}

BOOST_AUTO_TEST_CASE(a_deciding_entrys_own_category_counts_not_its_sources) {
  // support.google.com is Google of no known medium: a referral, not a search.
  const auto* e = find("https://support.google.com/x", "support.google.com");
  BOOST_REQUIRE(e != nullptr);
  BOOST_TEST(e->source == "google");
  BOOST_TEST(to_string(e->category) == "unknown");
  auto c = default_channel({e->source, e->medium, "", e, false}, known_referrer_list::builtin());
  BOOST_TEST(c.channel == "Referral");
}

BOOST_AUTO_TEST_CASE(a_source_longer_than_any_host_has_no_category) {
  const auto& list = known_referrer_list::builtin();
  BOOST_TEST(list.by_source(std::string(253, 'a')) == nullptr);
  BOOST_TEST(list.by_source(std::string(100000, 'g')) == nullptr);
  BOOST_TEST(list.by_source("") == nullptr);
  BOOST_REQUIRE(list.by_source("GOOGLE") != nullptr);
  BOOST_TEST(list.by_source("m.facebook.com")->source == "facebook");
}

BOOST_AUTO_TEST_SUITE_END()
