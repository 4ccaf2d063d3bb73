#include "domain/match/regex.hpp"

#include <boost/test/unit_test.hpp>
#include <random>

#include "infra/metrics.hpp"

using namespace referrald::domain;

namespace {

std::shared_ptr<const compiled_regex> re(std::string_view p) {
  auto r = compiled_regex::compile(p);
  BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.err().message));
  return *r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(regex)

BOOST_AUTO_TEST_CASE(matching_is_caseless_and_unanchored) {
  auto r = re("Partner\\.COM");
  BOOST_TEST(r->matches("shop.partner.com"));
  BOOST_TEST(!r->matches("partnerxcom.org"));
  BOOST_TEST(re("^a.c$")->matches("abc"));
  BOOST_TEST(!re("^a.c$")->matches("xabc"));
}

BOOST_AUTO_TEST_CASE(catastrophic_backtracking_stops_at_the_limit) {
  // Unbounded, (a+)+$ against 40 a's and a b takes 2^40 steps: the match limit stops it,
  // which the outcome and the counter show (work done, not time taken).
  auto before = referrald::infra::metrics().regex_match_limit_hits.load();
  auto r = re("(a+)+$");
  std::string subject(40, 'a');
  subject += "b";
  BOOST_TEST((r->match(subject) == compiled_regex::outcome::limit));
  BOOST_TEST(!r->matches(subject));
  BOOST_TEST(referrald::infra::metrics().regex_match_limit_hits.load() == before + 2);
  // A subject it can decide within the limit is not counted.
  BOOST_TEST((r->match("aaaa") == compiled_regex::outcome::match));
  BOOST_TEST(referrald::infra::metrics().regex_match_limit_hits.load() == before + 2);
  auto nested = re("((a|aa)+)*c");
  BOOST_TEST(!nested->matches(std::string(60, 'a')));
}

// PCRE2 does not say how many steps a match took; a search is charged the limits it ran
// under, never less than the work it did, and the same every time.
BOOST_AUTO_TEST_CASE(a_search_is_charged_the_limits_it_ran_under_the_same_every_time) {
  auto cheap = re("partner\\.com$");
  std::uint64_t spent = 0;
  BOOST_TEST((cheap->match("shop.partner.com", 1000000, spent) == compiled_regex::outcome::match));
  BOOST_TEST(spent == 32u);
  // 92,732 steps with the JIT: under the match limit, after six smaller limits stopped it.
  auto heavy = re("^(a|aa)+[0-9]?$");
  const std::string host = std::string(21, 'a') + ".example";
  auto before = referrald::infra::metrics().regex_match_limit_hits.load();
  for (int i = 0; i < 2; ++i) {
    spent = 0;
    BOOST_TEST((heavy->match(host, 1000000, spent) == compiled_regex::outcome::no_match));
    BOOST_TEST(spent == 32u + 128 + 512 + 2048 + 8192 + 32768 + 100000);
  }
  BOOST_TEST(referrald::infra::metrics().regex_match_limit_hits.load() == before);
}

BOOST_AUTO_TEST_CASE(a_search_stays_within_its_allowance) {
  auto heavy = re("^(a|aa)+[0-9]?$");
  const std::string host = std::string(21, 'a') + ".example";
  auto before = referrald::infra::metrics().regex_match_limit_hits.load();
  std::uint64_t spent = 0;
  BOOST_TEST((heavy->match(host, 5000, spent) == compiled_regex::outcome::limit));
  BOOST_TEST(spent == 5000u);
  spent = 0;
  BOOST_TEST((heavy->match(host, 0, spent) == compiled_regex::outcome::limit));
  BOOST_TEST(spent == 0u);
  // The allowance ran out, not the match limit: not counted as a limit hit.
  BOOST_TEST(referrald::infra::metrics().regex_match_limit_hits.load() == before);
}

// The budget counted only searches stopped by the match limit: searches just under it
// were free, thousands per visit.
BOOST_AUTO_TEST_CASE(a_visits_budget_counts_the_steps_spent_and_names_the_biggest_spenders) {
  auto heavy = re("^(a|aa)+[0-9]?$");
  auto cheap = re("^b");
  const std::string host = std::string(21, 'a') + ".example";
  regex_budget budget;
  using result = regex_budget::result;
  BOOST_TEST((budget.match(*cheap, host, {"mapping", 9}) == result::no_match));
  BOOST_TEST((budget.match(*heavy, host, {"channel rule", 4}) == result::no_match));
  BOOST_TEST((budget.match(*heavy, host, {"mapping", 2}) == result::no_match));
  BOOST_TEST(!budget.exhausted());
  BOOST_TEST((budget.match(*heavy, host, {"channel rule", 4}) == result::stopped));
  BOOST_TEST(budget.exhausted());
  BOOST_TEST(budget.spent() == regex_budget::steps_per_visit);
  BOOST_TEST((budget.match(*cheap, host, {"mapping", 9}) == result::not_tried));
  BOOST_TEST((budget.match(*cheap, host, {"mapping", 10}) == result::not_tried));
  BOOST_TEST(budget.not_tried() == 2u);
  // Channel rule 4's two searches add up: 143,680 + 12,608 (what was left).
  BOOST_TEST(budget.warning() ==
             "the account's regex rules used up the work budget of a visit (300000 steps): "
             "channel rule 4 spent 156288, mapping 2 spent 143680, mapping 9 spent 32; 2 "
             "regexes were not tried and count as not matching");
}

BOOST_AUTO_TEST_CASE(compile_errors_name_the_offset) {
  auto r = compiled_regex::compile("abc(");
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(r.err().message.find("at offset 4") != std::string::npos, r.err().message);
  BOOST_TEST(!compiled_regex::compile("a{2,1}").ok());
  BOOST_TEST(!compiled_regex::compile("\xC3").ok());  // invalid UTF-8
}

BOOST_AUTO_TEST_CASE(required_literals_are_found_conservatively) {
  BOOST_TEST(*required_literal("^shop\\.(.*)\\.example\\.com$") == ".example.com");
  BOOST_TEST(*required_literal("Partner") == "partner");
  BOOST_TEST(*required_literal("abcd?ef") == "abc");
  BOOST_TEST(*required_literal("ab*cdef") == "cdef");
  BOOST_TEST(*required_literal("xy{0,3}zzz") == "zzz");
  BOOST_TEST(*required_literal("abc+de") == "abc");
  BOOST_TEST(*required_literal("[abc]xyz\\d") == "xyz");
  BOOST_TEST(!required_literal("a|bcd").has_value());
  BOOST_TEST(!required_literal("(?i)abc").has_value());
  BOOST_TEST(*required_literal("ab") == "ab");
  BOOST_TEST(!required_literal("a").has_value());
  BOOST_TEST(!required_literal("(abc)").has_value());
  BOOST_TEST(!required_literal("\\x41bc").has_value());
  BOOST_TEST(*required_literal("(foo|bar)\\.baz") == ".baz");
}

BOOST_AUTO_TEST_CASE(a_found_literal_occurs_in_every_match) {
  // Soundness: for random patterns built from literal chunks and operators, whenever the
  // pattern matches a random host, the required literal occurs in it.
  std::mt19937 rng(11);
  const char* atoms[] = {"a", "b", ".", "\\.", "ab", "[ab]", "(a|b)", "x", "\\d", "c"};
  const char* quants[] = {"", "", "", "?", "*", "+", "{0,2}", "{1,2}"};
  int checked = 0;
  for (int n = 0; n < 3000; ++n) {
    std::string p;
    int len = 1 + static_cast<int>(rng() % 6);
    for (int i = 0; i < len; ++i) {
      p += atoms[rng() % std::size(atoms)];
      p += quants[rng() % std::size(quants)];
    }
    auto lit = required_literal(p);
    auto r = compiled_regex::compile(p);
    if (!r.ok() || !lit) continue;
    for (int k = 0; k < 20; ++k) {
      std::string host;
      int hl = static_cast<int>(rng() % 10);
      for (int i = 0; i < hl; ++i)
        host += "abcx.1"[rng() % 6];
      if ((*r)->matches(host)) {
        ++checked;
        BOOST_TEST(host.find(*lit) != std::string::npos,
                   p << " matched " << host << " without " << *lit);
      }
    }
  }
  BOOST_TEST(checked > 100);
}

BOOST_AUTO_TEST_SUITE_END()
