#include "domain/attribution/visit_scan.hpp"

#include <rapidjson/document.h>

#include <boost/test/unit_test.hpp>
#include <random>
#include <string>
#include <vector>

#include "domain/base/json.hpp"

using namespace referrald::domain;

namespace {

bool same(const visit& a, const visit& b) {
  auto same_utms = [](const utm_values& x, const utm_values& y) {
    return x.source == y.source && x.medium == y.medium && x.campaign == y.campaign &&
           x.term == y.term && x.content == y.content;
  };
  return a.referrer == b.referrer && a.referrer_host == b.referrer_host &&
         a.referrer_path == b.referrer_path && a.referrer_query == b.referrer_query &&
         a.landing_host == b.landing_host && a.landing_query == b.landing_query &&
         a.landing_path == b.landing_path && a.session.has_value() == b.session.has_value() &&
         (!a.session || same_utms(*a.session, *b.session)) && a.warnings == b.warnings;
}

// Whether the members' reading of `text` is taken; when it is, parse_visit reads the same
// object as the same visit (`among_others`: a visit log's record).
bool read_like_parse_visit(const std::string& text, bool among_others, visit& reused) {
  std::vector<json_member> members, session;
  visit_members found;
  if (!scan_object(text, members) || !find_visit_members(members, among_others, found) ||
      !read_visit_members(found, session, reused)) {
    return false;
  }
  rapidjson::Document doc;
  BOOST_TEST_REQUIRE(parse_json(text, doc).ok(), text);
  auto parsed = parse_visit(doc, std::nullopt, among_others);
  BOOST_TEST_REQUIRE(parsed.ok(), "read, but parse_visit refuses: " << text);
  BOOST_TEST(same(reused, *parsed), text);
  return true;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(visit_scan)

BOOST_AUTO_TEST_CASE(a_plain_visit_is_read_and_anything_else_left_to_the_parser) {
  visit v;
  BOOST_TEST(read_like_parse_visit(
      R"({"referrer":"https://www.google.co.uk/search?q=x","landing_url":"https://h.example/?utm_source=a",)"
      R"("session":{"utm_source":"n","utm_medium":null}})",
      false, v));
  BOOST_TEST(v.referrer_host == "google.co.uk");
  BOOST_TEST(v.session.has_value());
  BOOST_TEST(read_like_parse_visit(R"({"landing_url":"h.example","referrer":null,"session":null})",
                                   false, v));
  BOOST_TEST(v.referrer_host.empty());
  BOOST_TEST(!v.session.has_value());
  BOOST_TEST(read_like_parse_visit(R"({"landing_url":"h.example","event":7})", true, v));
  for (std::string text : {
           R"({"landing_url":"h.example","event":7})",                  // not a visit's member
           R"({"landing_url":"h.example","landing_url":"x.example"})",  // repeated
           R"({"landing_url":"h\u002eexample"})",                       // escaped
           R"({"landing_u\u0072l":"h.example"})",                       // an escaped name
           R"({"referrer":7,"landing_url":"h.example"})",               // a wrong type
           R"({"referrer":"x.example"})",                               // no landing_url
           R"({"landing_url":"h.example","session":[]})",
           R"({"landing_url":"h.example","session":{"utm_id":"1"}})",
           R"({"landing_url":"h.example","session":{"utm_source":null,"utm_source":"x"}})",
           R"({"landing_url":"h.example","session":{"utm_source":"a\u0001"}})",
       }) {
    BOOST_TEST(!read_like_parse_visit(text, false, v), text);
  }
}

// Mutations of visit objects: whatever is read without the document, parse_visit reads as
// the same visit.
BOOST_AUTO_TEST_CASE(never_reads_a_visit_otherwise_than_parse_visit) {
  const std::vector<std::string> seeds = {
      R"({"referrer":"https://www.facebook.com/l.php","landing_url":"https://hotel.example/r/0?gclid=x"})",
      R"({"referrer":null,"landing_url":"hotel.example/?utm_source=n&utm_medium=e",)"
      R"("session":{"utm_source":"a","utm_medium":"b","utm_campaign":null,"utm_term":"t","utm_content":"c"}})",
      R"({"referrer":"android-app://com.openai.chatgpt/","landing_url":"https://h.example/","session":{}})",
      R"({"referrer":"  https://Bücher.DE:8443/x ","landing_url":"http://[::1]/p","session":null})",
  };
  const std::string alphabet = "{}[]\":,\\ \t/.:?&=%0123456789abcnulAZ\xC3\xA9";
  std::mt19937 rng(5);
  visit reused;  // reused across rounds, as the hot paths do
  int read = 0;
  for (int round = 0; round < 30000; ++round) {
    std::string text = seeds[rng() % seeds.size()];
    for (int e = 0, edits = 1 + static_cast<int>(rng() % 3); e < edits; ++e) {
      std::size_t at = rng() % text.size();
      char c = alphabet[rng() % alphabet.size()];
      if (rng() % 3 == 0) {
        text.erase(at, 1);
      } else if (rng() % 2 == 0) {
        text[at] = c;
      } else {
        text.insert(at, 1, c);
      }
    }
    if (read_like_parse_visit(text, round % 2 == 0, reused)) ++read;
  }
  BOOST_TEST(read > 1000);
  BOOST_TEST(read < 30000);
}

BOOST_AUTO_TEST_SUITE_END()
