#include "domain/attribution/visit.hpp"

#include <rapidjson/document.h>

#include <boost/test/unit_test.hpp>
#include <random>
#include <string>
#include <vector>

#include "domain/attribution/resolver.hpp"
#include "domain/base/json.hpp"
#include "domain/rules/entities.hpp"
#include "tests/support/created_rules.hpp"
#include "tests/support/json_body.hpp"

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
  if (!scan_object(text, members) || !read_visit_members(members, among_others, session, reused)) {
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

BOOST_AUTO_TEST_SUITE(visit_reading)

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

// An account with a rule of each kind the readers' visits can reach.
const account_state& some_rules() {
  static const account_state s = [] {
    account_state st("readers");
    referrald::testing::create_rules<passthrough_referrer>(
        st, referrald::testing::parse(R"([{"domain":"pay.example","utm_source":"p"}])"));
    referrald::testing::create_rules<referrer_mapping>(
        st,
        referrald::testing::parse(
            R"([{"referrer_pattern":"partner","match_type":"contains","utm_source":"partner"}])"));
    st.refresh_indexes();
    return st;
  }();
  return s;
}

// The JSON object `text` (which parse_visit reads as a visit) as a CSV record under the
// header referrer,landing_url,session_utm_*: nullopt when CSV cannot say the same (a
// session value that is empty in JSON but given, which CSV cannot tell from none, is the
// same visit anyway; a value CSV would guard against spreadsheets is written as read).
std::vector<std::string> as_csv_fields(const rapidjson::Value& obj) {
  std::vector<std::string> fields(7);
  if (auto it = obj.FindMember("referrer"); it != obj.MemberEnd() && it->value.IsString())
    fields[0] = it->value.GetString();
  fields[1] = obj["landing_url"].GetString();
  if (auto it = obj.FindMember("session"); it != obj.MemberEnd() && it->value.IsObject()) {
    for (std::size_t u = 0; u < k_utm_names.size(); ++u) {
      auto m =
          it->value.FindMember(rapidjson::StringRef(k_utm_names[u].data(), k_utm_names[u].size()));
      if (m != it->value.MemberEnd() && m->value.IsString()) fields[2 + u] = m->value.GetString();
    }
  }
  return fields;
}

// Every visit read from JSON, from the scanner's members and from CSV is the same visit and
// gets the same resolution.
BOOST_AUTO_TEST_CASE(json_the_scanner_and_csv_read_the_same_visit_and_resolve_it_alike) {
  const std::vector<std::string> header = {
      "referrer",           "landing_url",          "session_utm_source",
      "session_utm_medium", "session_utm_campaign", "session_utm_term",
      "session_utm_content"};
  const visit_columns columns(header);
  BOOST_REQUIRE(columns.complete());
  const std::vector<std::string> seeds = {
      R"({"referrer":"https://www.facebook.com/l.php","landing_url":"https://hotel.example/r/0?gclid=x"})",
      R"({"referrer":"https://secure.pay.example/3ds","landing_url":"hotel.example/?utm_source=n&utm_medium=e",)"
      R"("session":{"utm_source":"a","utm_medium":"b","utm_campaign":null,"utm_term":"t","utm_content":"c"}})",
      R"({"referrer":"android-app://com.openai.chatgpt/","landing_url":"https://h.example/","session":{}})",
      R"({"referrer":"  https://my-partner.net:8443/x ","landing_url":"http://[::1]/p","session":null})",
      R"({"referrer":"https://www.google.de/search?q=hotel+rooms","landing_url":"https://h.example/"})",
  };
  const std::string alphabet = "/.:?&=%0123456789abcnuAZ \tÃ©#@[]";
  std::mt19937 rng(11);
  visit scanned, from_csv;
  int compared = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string text = seeds[rng() % seeds.size()];
    // Edits inside string values only, so that most rounds stay visits.
    for (int e = 0, edits = static_cast<int>(rng() % 4); e < edits; ++e) {
      std::size_t at = rng() % text.size();
      if (text[at] == '"' || text[at] == '{' || text[at] == '}' || text[at] == ':' ||
          text[at] == ',')
        continue;
      text.insert(at, 1, alphabet[rng() % alphabet.size()]);
    }
    rapidjson::Document doc;
    if (!parse_json(text, doc).ok()) continue;
    auto parsed = parse_visit(doc);
    if (!parsed.ok()) continue;
    std::vector<json_member> members, session;
    BOOST_REQUIRE_MESSAGE(scan_object(text, members), text);
    BOOST_REQUIRE_MESSAGE(read_visit_members(members, false, session, scanned), text);
    BOOST_TEST(same(scanned, *parsed), text);
    std::string column, message;
    BOOST_REQUIRE_MESSAGE(columns.read(as_csv_fields(doc), from_csv, column, message),
                          text << ": " << column << " " << message);
    BOOST_TEST(same(from_csv, *parsed), text);
    std::string a, b, c;
    append_json(a, resolve(some_rules(), *parsed));
    append_json(b, resolve(some_rules(), scanned));
    append_json(c, resolve(some_rules(), from_csv));
    BOOST_TEST(a == b, text);
    BOOST_TEST(a == c, text);
    ++compared;
  }
  BOOST_TEST(compared > 10000);
}

// A host longer than the facts' tables keep (62 bytes) is looked up for each visit, with the
// same answer; and a host seen under one version of the rules is never answered from another.
BOOST_AUTO_TEST_CASE(long_hosts_and_new_rule_versions_get_their_own_answers) {
  const std::string long_host = std::string(80, 'a') + ".secure.pay.example";
  for (int round = 0; round < 2; ++round) {
    auto v = parse_visit(referrald::testing::parse(R"({"referrer":"https://)" + long_host +
                                                   R"(/","landing_url":"https://h.example/"})"));
    BOOST_REQUIRE(v.ok());
    BOOST_TEST(resolve(some_rules(), *v).reason == "passthrough_fallback");
  }
  account_state changed = some_rules();  // a copy: a version of its own
  auto v = parse_visit(referrald::testing::parse(
      R"({"referrer":"https://shop.partner.example/","landing_url":"https://h.example/"})"));
  BOOST_REQUIRE(v.ok());
  BOOST_TEST(resolve(some_rules(), *v).reason == "mapping");
  referrald::testing::create_rules<passthrough_referrer>(
      changed, referrald::testing::parse(R"([{"domain":"partner.example","utm_source":"q"}])"));
  changed.refresh_indexes();
  BOOST_TEST(changed.version() != some_rules().version());
  BOOST_TEST(resolve(changed, *v).reason == "passthrough_fallback");
  BOOST_TEST(resolve(some_rules(), *v).reason == "mapping");
}

// A CSV record's problems name its column.
BOOST_AUTO_TEST_CASE(a_csv_visit_names_the_column_at_fault) {
  const std::vector<std::string> header = {"landing_url", "session_utm_term"};
  const visit_columns columns(header);
  visit v;
  std::string column, message;
  BOOST_TEST(
      !columns.read(std::vector<std::string>{"https://h.example/", "a\x01b"}, v, column, message));
  BOOST_TEST(column == "session_utm_term");
  BOOST_TEST(message.starts_with("must not contain"));
  BOOST_TEST(!visit_columns(std::vector<std::string>{"referrer"}).complete());
}

BOOST_AUTO_TEST_SUITE_END()
