#include "domain/match/mapping_index.hpp"
#include "infra/metrics.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <random>

#include "domain/attribution/resolver.hpp"
#include "domain/attribution/visit.hpp"
#include "domain/web/host.hpp"

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
    e.object = encode_object(m);
    auto st = state.apply(e);
    BOOST_REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.err().message));
    return m.id;
  }

  std::shared_ptr<const mapping_index> index() {
    state.refresh_indexes();
    return state.mappings_index();
  }

  void apply(event_type type, std::int64_t id, std::string object) {
    event e;
    e.seq = state.seq() + 1;
    e.prev_hash = state.head_hash();
    e.hash = sha256(std::to_string(e.seq));
    e.type = type;
    e.entity_id = id;
    e.object = std::move(object);
    auto st = state.apply(e);
    BOOST_REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.err().message));
  }

  // An update of mapping `id`: new priority and active flag, same pattern.
  void update(std::int64_t id, std::int64_t priority, bool active) {
    referrer_mapping m = *state.mappings().find(id);
    m.priority = priority;
    m.is_active = active;
    apply(event_type::referrer_mapping_updated, id, encode_object(m));
  }
  void remove(std::int64_t id) { apply(event_type::referrer_mapping_deleted, id, ""); }

  std::int64_t add_referrer(const std::string& domain, bool active = true) {
    if (state.referrers().with_key(domain)) return 0;
    passthrough_referrer p;
    p.id = state.referrers().next_id();
    p.domain = domain;
    p.utm_source = "r" + std::to_string(p.id);
    p.is_active = active;
    apply(event_type::passthrough_referrer_created, p.id, encode_object(p));
    return p.id;
  }
  void set_referrer_active(std::int64_t id, bool active) {
    passthrough_referrer p = *state.referrers().find(id);
    p.is_active = active;
    apply(event_type::passthrough_referrer_updated, id, encode_object(p));
  }
  void remove_referrer(std::int64_t id) { apply(event_type::passthrough_referrer_deleted, id, ""); }
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

// The reference for passthrough referrers: the active one with the longest domain that
// covers the host.
std::int64_t naive_referrer(const account_state& s, std::string_view host) {
  const passthrough_referrer* best = nullptr;
  for (auto [id, e] : s.referrers().items()) {
    const auto& p = e->value;
    if (!p.is_active || !host_matches_domain(host, p.domain)) continue;
    if (best == nullptr || p.domain.size() > best->domain.size()) best = &p;
  }
  return best == nullptr ? 0 : best->id;
}

std::string random_host(std::mt19937& rng, int labels) {
  static const std::vector<std::string> words = {"shop", "partner", "pay",  "book",   "eu",
                                                 "us",   "x1",      "acme", "travel", "io",
                                                 "com",  "net",     "www2", "m"};
  std::string h;
  for (int i = 0; i < labels; ++i) {
    if (i > 0) h += '.';
    h += words[rng() % words.size()];
  }
  return h;
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

BOOST_AUTO_TEST_CASE(a_redos_pattern_stops_at_the_match_limit) {
  rules_builder b;
  b.add(match_type::regex, "(a+)+$", 100);
  auto fallback = b.add(match_type::contains, "aaa", 1);
  auto idx = b.index();
  std::string host(60, 'a');
  host += "b";
  auto before = referrald::infra::metrics().regex_match_limit_hits.load();
  BOOST_TEST(best_id(*idx, host) == fallback);  // the limit hit counts as no match
  BOOST_TEST(referrald::infra::metrics().regex_match_limit_hits.load() == before + 1);
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

// A rule changed more than once over one full build leaves no trace of its earlier
// versions: updated, then deactivated or deleted, it stops matching.
BOOST_AUTO_TEST_CASE(a_rule_changed_twice_over_one_build_leaves_no_stale_entry) {
  rules_builder b;
  auto exact = b.add(match_type::exact, "shop.partner.com", 10);
  auto suffix = b.add(match_type::ends_with, "partner.com", 5);
  auto prefix = b.add(match_type::starts_with, "shop.", 4);
  auto contains = b.add(match_type::contains, "partn", 3);
  auto fallback = b.add(match_type::exact, "other.com", 1);
  b.state.refresh_indexes();
  BOOST_REQUIRE_EQUAL(b.state.mappings_index()->layered(), 0u);
  for (auto id : {exact, suffix, prefix, contains})
    b.update(id, 20, true);    // first change: layered
  b.update(exact, 20, false);  // second: deactivated
  b.remove(suffix);
  b.update(prefix, 30, false);
  b.remove(contains);
  b.state.refresh_indexes(account_state::index_refresh::layered);
  const auto& idx = *b.state.mappings_index();
  BOOST_REQUIRE(idx.layered() > 0u);
  for (std::string host :
       {"shop.partner.com", "www.partner.com", "shop.x.org", "apartner.net", "other.com"}) {
    auto expected = naive_all(b.state, host);
    std::vector<std::int64_t> got;
    for (auto* m : idx.all(host))
      got.push_back(m->id);
    BOOST_TEST(got == expected, host);
    BOOST_TEST(best_id(idx, host) == (expected.empty() ? 0 : expected.front()), host);
  }
  BOOST_TEST(best_id(idx, "other.com") == fallback);
  BOOST_TEST(best_id(idx, "shop.partner.com") == 0);
}

// After a full build, changes are layered over it instead of rebuilding: the answers must
// be those of a fresh build, through updates, deactivations, deletions and creations, and
// after a full build made from an older version of the state is adopted.
BOOST_AUTO_TEST_CASE(layered_changes_answer_as_a_full_build_does) {
  std::mt19937 rng(77);
  rules_builder b;
  std::vector<std::int64_t> ids;
  auto add_random = [&] {
    auto type = static_cast<match_type>(1 + rng() % 5);
    std::string pattern;
    do {
      pattern = random_host(rng, 1 + static_cast<int>(rng() % 3));
    } while (is_public_suffix(pattern));
    if (type == match_type::regex) pattern = "^" + pattern.substr(0, pattern.find('.')) + "[0-9]?";
    if (type == match_type::contains || type == match_type::starts_with)
      pattern = pattern.substr(0, 3 + rng() % 4);
    auto id = b.add(type, pattern, static_cast<std::int64_t>(rng() % 20));
    if (id != 0) ids.push_back(id);
    auto rid = b.add_referrer(random_host(rng, 1 + static_cast<int>(rng() % 3)));
    (void)rid;
  };
  for (int i = 0; i < 300; ++i)
    add_random();
  b.state.refresh_indexes();
  BOOST_REQUIRE_EQUAL(b.state.mappings_index()->layered(), 0u);

  auto check = [&](const char* when) {
    const auto& idx = *b.state.mappings_index();
    BOOST_TEST(idx.size() == b.state.mappings().active_count(), when);
    auto fresh = mapping_index::build(b.state.mappings());
    auto ranked = idx.ranked();
    auto fresh_ranked = fresh->ranked();
    BOOST_REQUIRE_EQUAL(ranked.size(), fresh_ranked.size());
    for (std::size_t i = 0; i < ranked.size(); ++i)
      BOOST_REQUIRE_EQUAL(ranked[i]->id, fresh_ranked[i]->id);
    // Random hosts, and hosts every rule (active or not, changed or not) matches by its
    // pattern, so that a stale entry for a changed rule cannot hide.
    std::vector<std::string> hosts;
    for (int k = 0; k < 400; ++k)
      hosts.push_back(random_host(rng, 1 + static_cast<int>(rng() % 4)));
    for (auto [id, e] : b.state.mappings().items()) {
      const auto& m = e->value;
      if (m.match_type == match_type::regex) continue;
      hosts.push_back(m.referrer_pattern);
      hosts.push_back("w." + m.referrer_pattern);
      hosts.push_back(m.referrer_pattern + "z.example");
    }
    for (const auto& host : hosts) {
      auto expected = naive_all(b.state, host);
      std::vector<std::int64_t> got;
      for (auto* m : idx.all(host))
        got.push_back(m->id);
      BOOST_REQUIRE_MESSAGE(got == expected, when << ": all() differs for " << host);
      BOOST_REQUIRE_EQUAL(best_id(idx, host), expected.empty() ? 0 : expected.front());
      const auto* p = b.state.covering_referrer(host);
      BOOST_REQUIRE_EQUAL(p == nullptr ? 0 : p->id, naive_referrer(b.state, host));
    }
  };

  auto change_some = [&](int n) {
    for (int i = 0; i < n; ++i) {
      switch (rng() % 4) {
        case 0:
          add_random();
          break;
        case 1: {
          // Mostly among a few rules, so that rules change several times over one build.
          auto id = ids[rng() % (rng() % 2 ? std::min<std::size_t>(ids.size(), 12) : ids.size())];
          if (b.state.mappings().find(id) != nullptr)
            b.update(id, static_cast<std::int64_t>(rng() % 20), rng() % 3 != 0);
          break;
        }
        case 2: {
          auto id = ids[rng() % (rng() % 2 ? std::min<std::size_t>(ids.size(), 24) : ids.size())];
          if (b.state.mappings().find(id) != nullptr) b.remove(id);
          break;
        }
        default: {
          auto next = b.state.referrers().next_id();
          auto id = static_cast<std::int64_t>(1 + rng() % static_cast<std::uint64_t>(next - 1));
          if (b.state.referrers().find(id) == nullptr) break;
          if (rng() % 2) {
            b.set_referrer_active(id, rng() % 2 == 0);
          } else {
            b.remove_referrer(id);
          }
        }
      }
    }
  };

  change_some(40);
  b.state.refresh_indexes(account_state::index_refresh::layered);
  BOOST_TEST(b.state.mappings_index()->layered() > 0u);
  check("layered");

  // A full build from this version, adopted after further changes.
  auto older = b.state;
  change_some(30);
  auto built = older.build_full_indexes();
  b.state.adopt_indexes(built);
  b.state.refresh_indexes(account_state::index_refresh::layered);
  check("adopted");
  // Only the changes after the adopted build are layered now.
  BOOST_TEST(b.state.mappings_index()->layered() <= 30u);

  // An older build than the one in use is not adopted.
  rules_builder c = b;
  auto stale = c.state.build_full_indexes();
  change_some(10);
  b.state.refresh_indexes();  // a full build: more recent than `stale`
  b.state.adopt_indexes(stale);
  b.state.refresh_indexes(account_state::index_refresh::layered);
  check("not adopting an older build");

  // Enough changes make a full build due; refresh_indexes() then builds in full.
  change_some(400);
  BOOST_TEST(b.state.full_index_build_due());
  b.state.refresh_indexes();
  BOOST_TEST(!b.state.full_index_build_due());
  BOOST_TEST(b.state.mappings_index()->layered() == 0u);
  check("rebuilt");
}

// Visits resolved against many versions of an account's rules in turn, in random order (as a
// log is at each visit's own time): the per-thread tables keep rule answers by version and a
// full build's plain answers by build, and each visit still gets its own version's mapping,
// across full builds, layered changes, updates and deletions.
BOOST_AUTO_TEST_CASE(visits_against_many_versions_in_turn_get_their_own_versions_mapping) {
  std::mt19937 rng(91);
  rules_builder b;
  std::vector<std::int64_t> ids;
  auto add_random = [&] {
    auto type = static_cast<match_type>(1 + rng() % 4);  // exact ... contains: no regex
    std::string pattern;
    do {
      pattern = random_host(rng, 1 + static_cast<int>(rng() % 3));
    } while (is_public_suffix(pattern));
    if (type == match_type::contains || type == match_type::starts_with)
      pattern = pattern.substr(0, 3 + rng() % 4);
    auto id = b.add(type, pattern, static_cast<std::int64_t>(rng() % 20));
    if (id != 0) ids.push_back(id);
  };
  for (int i = 0; i < 200; ++i)
    add_random();
  std::vector<account_state> versions;
  std::vector<std::uint64_t> builds;
  for (int i = 0; i < 600; ++i) {
    auto id = ids[rng() % ids.size()];
    switch (rng() % 3) {
      case 0:
        add_random();
        break;
      case 1:
        if (b.state.mappings().find(id) != nullptr)
          b.update(id, static_cast<std::int64_t>(rng() % 20), rng() % 4 != 0);
        break;
      default:
        if (b.state.mappings().find(id) != nullptr) b.remove(id);
    }
    b.state.refresh_indexes();  // layered, and in full when due
    versions.push_back(b.state);
    builds.push_back(b.state.mappings_index()->build_id());
  }
  std::sort(builds.begin(), builds.end());
  BOOST_REQUIRE(std::unique(builds.begin(), builds.end()) - builds.begin() > 2);
  std::vector<std::string> hosts;
  for (int k = 0; k < 300; ++k)
    hosts.push_back(random_host(rng, 1 + static_cast<int>(rng() % 4)));
  for (auto [id, e] : b.state.mappings().items())
    hosts.push_back("w." + e->value.referrer_pattern);
  int mapped = 0;
  for (int k = 0; k < 40000; ++k) {
    const account_state& s = versions[rng() % versions.size()];
    const std::string& host = hosts[rng() % hosts.size()];
    visit v;
    v.referrer = "https://" + host + "/";
    v.referrer_host = host;
    v.referrer_path = "/";
    v.landing_host = "site.example";
    v.landing_path = "/";
    auto r = resolve(s, v);
    auto expected = naive_all(s, host);
    std::int64_t want = expected.empty() ? 0 : expected.front();
    std::int64_t got = r.rule_type == "mapping" ? r.rule_id : 0;
    BOOST_REQUIRE_MESSAGE(got == want, host << " at seq " << s.seq() << ": mapping " << got
                                            << ", its version's is " << want);
    mapped += got != 0 ? 1 : 0;
  }
  BOOST_TEST(mapped > 4000);
}

BOOST_AUTO_TEST_SUITE_END()
