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
