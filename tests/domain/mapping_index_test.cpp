#include "domain/mapping_index.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <random>

#include "domain/host.hpp"

using namespace referrald::domain;

namespace {

// Builds an account state holding the given rules through the real fold.
struct rules_builder {
  account_state state{"acme"};
  std::int64_t next_id = 1;

  std::int64_t add(match_type type, const std::string& pattern, std::int64_t priority = 0,
                   bool active = true) {
    auto n = normalize_pattern(pattern, type);
    BOOST_REQUIRE_MESSAGE(n.ok(), pattern << ": " << (n.ok() ? "" : n.err().message));
    if (state.mappings().with_key(n->pattern)) return 0;  // duplicates are refused
    referrer_mapping m;
    m.id = next_id++;
    m.referrer_pattern = n->pattern;
    m.match_type = type;
    m.regex = n->regex;
    m.utm_source = "s" + std::to_string(m.id);
    m.priority = priority;
    m.is_active = active;
    event e;
    e.seq = state.seq() + 1;
    e.prev_hash = state.head_hash();
    e.hash = sha256(std::to_string(e.seq));
    e.type = event_type::referrer_mapping_created;
    e.entity_id = m.id;
    e.object = entity_json("acme", m);
    auto st = state.apply(e);
    BOOST_REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.err().message));
    return m.id;
  }

  std::shared_ptr<const mapping_index> index() {
    state.refresh_indexes();
    return state.mappings_index();
  }
};

// The reference: try every active rule in priority order, first match wins.
std::vector<std::int64_t> naive_all(const account_state& s, std::string_view host) {
  std::vector<const referrer_mapping*> rules;
  for (auto [id, e] : s.mappings().items()) {
    if (e->value.is_active) rules.push_back(&e->value);
  }
  std::stable_sort(rules.begin(), rules.end(), [](auto* a, auto* b) {
    return a->priority != b->priority ? a->priority > b->priority : a->id < b->id;
  });
  std::vector<std::int64_t> out;
  for (auto* r : rules) {
    if (r->matches(host)) out.push_back(r->id);
  }
  return out;
}

std::int64_t best_id(const mapping_index& idx, std::string_view host) {
  const auto* m = idx.best(host);
  return m == nullptr ? 0 : m->id;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(mapping_index_suite)

BOOST_AUTO_TEST_CASE(every_match_type_is_found) {
  rules_builder b;
  auto exact = b.add(match_type::exact, "partner.com");
  auto contains = b.add(match_type::contains, "affiliate");
  auto starts = b.add(match_type::starts_with, "shop.example");
  auto ends = b.add(match_type::ends_with, "vendor.io");
  auto re = b.add(match_type::regex, "^portal[0-9]+\\.acme\\.net$");
  auto idx = b.index();
  BOOST_TEST(best_id(*idx, "partner.com") == exact);
  BOOST_TEST(best_id(*idx, "my-affiliate-site.org") == contains);
  BOOST_TEST(best_id(*idx, "shop.example.co.uk") == starts);
  BOOST_TEST(best_id(*idx, "eu.vendor.io") == ends);
  BOOST_TEST(best_id(*idx, "vendor.io") == ends);
  BOOST_TEST(best_id(*idx, "portal42.acme.net") == re);
  BOOST_TEST(best_id(*idx, "google.com") == 0);
}

BOOST_AUTO_TEST_CASE(ends_with_matches_on_label_boundaries_only) {
  rules_builder b;
  auto id = b.add(match_type::ends_with, "partner.com");
  auto idx = b.index();
  BOOST_TEST(best_id(*idx, "shop.partner.com") == id);
  BOOST_TEST(best_id(*idx, "notpartner.com") == 0);
  BOOST_TEST(best_id(*idx, "partner.com.evil.net") == 0);
}

BOOST_AUTO_TEST_CASE(case_and_protocol_are_normalized_before_matching) {
  rules_builder b;
  auto id = b.add(match_type::exact, "HTTPS://WWW.Partner.COM/landing");
  auto idx = b.index();
  auto host = normalize_host("http://www.partner.com:8080/x?y=1", idna_mode::browser);
  BOOST_REQUIRE(host.ok());
  BOOST_TEST(best_id(*idx, *host) == id);
}

BOOST_AUTO_TEST_CASE(higher_priority_wins_then_lower_id) {
  rules_builder b;
  auto low = b.add(match_type::contains, "partner", 10);
  auto high = b.add(match_type::ends_with, "partner.com", 500);
  auto tie_first = b.add(match_type::starts_with, "shop.partner", 500);
  auto idx = b.index();
  BOOST_TEST(best_id(*idx, "www2.partner.com") == high);
  // high (id 2) and tie_first (id 3) both at 500: the lower id wins.
  BOOST_TEST(best_id(*idx, "shop.partner.com") == high);
  auto all = idx->all("shop.partner.com");
  BOOST_REQUIRE(all.size() == 3u);
  BOOST_TEST(all[0]->id == high);
  BOOST_TEST(all[1]->id == tie_first);
  BOOST_TEST(all[2]->id == low);
}

BOOST_AUTO_TEST_CASE(a_regex_loses_to_a_better_ranked_plain_rule_and_wins_otherwise) {
  rules_builder b;
  auto plain = b.add(match_type::contains, "partner", 5);
  auto re = b.add(match_type::regex, "partner", 50);  // same text, other type: the key differs? no
  BOOST_TEST(re == 0);  // the normalized pattern is the same: refused as a duplicate
  auto re2 = b.add(match_type::regex, "partn.r", 50);
  auto idx = b.index();
  BOOST_TEST(best_id(*idx, "partner.com") == re2);
  rules_builder c;
  auto plain2 = c.add(match_type::contains, "partner", 50);
  c.add(match_type::regex, "partn.r", 5);
  BOOST_TEST(best_id(*c.index(), "partner.com") == plain2);
  (void)plain;
}

BOOST_AUTO_TEST_CASE(inactive_rules_are_ignored) {
  rules_builder b;
  b.add(match_type::exact, "shop.partner.com", 900, false);
  auto active = b.add(match_type::ends_with, "partner.com", 1);
  auto idx = b.index();
  BOOST_TEST(best_id(*idx, "shop.partner.com") == active);
  BOOST_TEST(idx->size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_redos_pattern_returns_promptly) {
  rules_builder b;
  b.add(match_type::regex, "(a+)+$", 100);
  auto fallback = b.add(match_type::contains, "aaa", 1);
  auto idx = b.index();
  std::string host(60, 'a');
  host += "b";
  auto t0 = std::chrono::steady_clock::now();
  BOOST_TEST(best_id(*idx, host) == fallback);  // the limit hit counts as no match
  auto ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  BOOST_TEST_MESSAGE("lookup with a catastrophic regex: " << ms << " ms");
  BOOST_TEST(ms < 1000.0);
}

BOOST_AUTO_TEST_CASE(agrees_with_a_naive_priority_scan_on_random_rules_and_hosts) {
  std::mt19937 rng(2025);
  const std::vector<std::string> words = {"shop", "partner", "pay", "book", "eu",  "us",   "x1",
                                          "acme", "travel",  "io",  "com",  "net", "www2", "m"};
  auto host_of = [&](int labels) {
    std::string h;
    for (int i = 0; i < labels; ++i) {
      if (i > 0) h += '.';
      if (rng() % 3 == 0) {
        // A label no rule was built from.
        for (int k = 0; k < 3; ++k)
          h += "qvzjk"[rng() % 5];
      } else {
        h += words[rng() % words.size()];
      }
      if (rng() % 4 == 0) h += std::to_string(rng() % 10);
    }
    return h;
  };
  int checked = 0, matched = 0;
  for (int round = 0; round < 20; ++round) {
    rules_builder b;
    for (int i = 0; i < 120; ++i) {
      auto type = static_cast<match_type>(1 + rng() % 5);
      std::string pattern;
      switch (type) {
        case match_type::exact:
        case match_type::ends_with:
          do {  // a public suffix is refused as a pattern
            pattern = host_of(1 + static_cast<int>(rng() % 3));
          } while (is_public_suffix(pattern));
          break;
        case match_type::starts_with:
        case match_type::contains: {
          std::string w = words[rng() % words.size()] + "." + words[rng() % words.size()];
          std::size_t from = rng() % 3;
          pattern = w.substr(from, 3 + rng() % 4);
          break;
        }
        case match_type::regex:
          pattern = rng() % 2 ? "^" + words[rng() % words.size()] + "[0-9]?\\."
                              : words[rng() % words.size()] + "\\.(com|net)$";
          break;
      }
      b.add(type, pattern, static_cast<std::int64_t>(rng() % 20), rng() % 10 != 0);
    }
    auto idx = b.index();
    for (int k = 0; k < 500; ++k) {
      std::string host = host_of(1 + static_cast<int>(rng() % 4));
      auto expected = naive_all(b.state, host);
      auto got = idx->all(host);
      std::vector<std::int64_t> got_ids;
      for (auto* m : got)
        got_ids.push_back(m->id);
      BOOST_REQUIRE_MESSAGE(got_ids == expected, "all() differs for " << host);
      BOOST_REQUIRE_EQUAL(best_id(*idx, host), expected.empty() ? 0 : expected.front());
      ++checked;
      if (!expected.empty()) ++matched;
    }
  }
  BOOST_TEST_MESSAGE(checked << " hosts checked, " << matched << " with a match");
  BOOST_TEST(matched > checked / 5);
  BOOST_TEST(matched < checked * 4 / 5);
}

BOOST_AUTO_TEST_SUITE_END()
