#include "domain/insights/day_insights.hpp"

#include <malloc.h>
#include <rapidjson/document.h>

#include <boost/test/unit_test.hpp>
#include <map>
#include <random>
#include <string>

#include "domain/attribution/resolver.hpp"
#include "domain/base/json.hpp"
#include "domain/rules/account_state.hpp"

using namespace referrald::domain;

namespace {

visit visit_of(const std::string& json) {
  rapidjson::Document doc;
  BOOST_REQUIRE(parse_json(json, doc).ok());
  auto v = parse_visit(doc);
  BOOST_REQUIRE_MESSAGE(v.ok(), json);
  return std::move(*v);
}

visit referral(const std::string& host, const std::string& landing) {
  return visit_of(R"({"referrer":"https://)" + host + R"(/some/path?q=1","landing_url":"https://)" +
                  landing + R"(/"})");
}

visit with_session(const std::string& host) {
  return visit_of(
      R"({"referrer":"https://)" + host +
      R"(/pay","landing_url":"https://shop.example/thanks","session":{"utm_source":"news","utm_medium":"email"}})");
}

constexpr unix_ms k_noon = 1'795'000'000'000;  // 2026-11-18

}  // namespace

BOOST_AUTO_TEST_SUITE(day_insights_suite)

BOOST_AUTO_TEST_CASE(resolutions_are_counted_by_reason_channel_rule_and_fall_through_host) {
  BOOST_REQUIRE(all_reasons().size() == day_insights::k_reasons);
  account_state s("acme");
  s.refresh_indexes();
  day_insights d;
  auto count = [&](const visit& v, unix_ms at) {
    d.record(v, resolve(s, v), at);
  };
  count(referral("partner.example", "shop.example"), k_noon);
  count(referral("partner.example", "blog.shop.example"), k_noon + 1000);
  count(with_session("pay.bank.example"), k_noon + 2000);
  count(visit_of(R"({"referrer":"https://www.google.com/","landing_url":"https://shop.example/"})"),
        k_noon);
  count(
      visit_of(
          R"({"referrer":null,"landing_url":"https://shop.example/?utm_source=x&utm_medium=weird"})"),
      k_noon + 3000);
  count(visit_of(R"({"referrer":null,"landing_url":"https://shop.example/"})"), k_noon);
  BOOST_TEST(d.resolutions == 6u);
  auto reason = [&](std::string_view r) {
    auto all = all_reasons();
    return d
        .by_reason[static_cast<std::size_t>(std::find(all.begin(), all.end(), r) - all.begin())];
  };
  BOOST_TEST(reason(reasons::referral) == 3u);
  BOOST_TEST(reason(reasons::known_referrer) == 1u);
  BOOST_TEST(reason(reasons::utm) == 1u);
  BOOST_TEST(reason(reasons::direct) == 1u);
  BOOST_TEST(d.by_channel.at("Referral") == 3u);
  BOOST_TEST(d.by_channel.at("Organic Search") == 1u);
  BOOST_TEST(d.by_channel.at("Unassigned") == 1u);
  BOOST_TEST(d.by_channel.at("Direct") == 1u);
  BOOST_TEST(d.by_rule.empty());
  // The fall-through hosts: the partner twice on two landing hosts, the bank once with a
  // session; the search engine is not one.
  BOOST_TEST(d.hosts.size() == 2u);
  const auto* partner = d.hosts.find("partner.example");
  BOOST_REQUIRE(partner != nullptr);
  BOOST_TEST(partner->count == 2u);
  BOOST_TEST(partner->data.with_session == 0u);
  BOOST_TEST(partner->data.first_seen == k_noon);
  BOOST_TEST(partner->data.last_seen == k_noon + 1000);
  BOOST_TEST(partner->data.landing_hosts[0] == "shop.example");
  BOOST_TEST(partner->data.landing_hosts[1] == "blog.shop.example");
  const auto* bank = d.hosts.find("pay.bank.example");
  BOOST_REQUIRE(bank != nullptr);
  BOOST_TEST(bank->data.with_session == 1u);
  // The unknown medium.
  BOOST_REQUIRE(d.mediums.find("weird") != nullptr);
  BOOST_TEST(d.mediums.find("weird")->count == 1u);
}

BOOST_AUTO_TEST_CASE(days_counted_apart_merge_to_the_same_counts) {
  account_state s("acme");
  s.refresh_indexes();
  day_insights whole, a, b;
  for (int i = 0; i < 40; ++i) {
    auto v = i % 4 == 0 ? with_session("pay" + std::to_string(i % 3) + ".example")
                        : referral("p" + std::to_string(i % 5) + ".example", "shop.example");
    auto r = resolve(s, v);
    whole.record(v, r, k_noon + i);
    (i % 2 == 0 ? a : b).record(v, r, k_noon + i);
  }
  a.merge(b);
  BOOST_TEST(a.resolutions == whole.resolutions);
  BOOST_TEST((a.by_reason == whole.by_reason));
  BOOST_TEST((a.by_channel == whole.by_channel));
  BOOST_TEST(a.hosts.size() == whole.hosts.size());
  for (const auto* e : whole.hosts.ranked()) {
    const auto* m = a.hosts.find(e->key);
    BOOST_REQUIRE(m != nullptr);
    BOOST_TEST(m->count == e->count);
    BOOST_TEST(m->data.with_session == e->data.with_session);
    BOOST_TEST(m->data.first_seen == e->data.first_seen);
    BOOST_TEST(m->data.last_seen == e->data.last_seen);
  }
}

BOOST_AUTO_TEST_CASE(a_day_is_utc_and_times_before_1970_fall_on_earlier_days) {
  BOOST_TEST(day_of(0) == 0);
  BOOST_TEST(day_of(86'399'999) == 0);
  BOOST_TEST(day_of(86'400'000) == 1);
  BOOST_TEST(day_of(-1) == -1);
}

// One hostile account sending a million distinct hosts: the day's memory stops growing at
// the bound its summaries set (measured on the heap).
BOOST_AUTO_TEST_CASE(a_million_distinct_hosts_cannot_grow_a_day_past_its_bound) {
#if defined(__SANITIZE_ADDRESS__)
  BOOST_TEST_MESSAGE("not measured under AddressSanitizer, whose allocator malloc's figures miss");
#else
  account_state s("acme");
  s.refresh_indexes();
  std::mt19937_64 rng(3);
  auto v = referral("x.example", "shop.example");
  auto r = resolve(s, v);
  auto random_host = [&] {
    return std::to_string(rng()) + "-" + std::to_string(rng()) + ".attacker.example";
  };
  auto heap = [] {
    return mallinfo2().uordblks;
  };
  auto before = heap();
  std::size_t at_bound = 0;
  {
    day_insights d;
    for (int i = 0; i < 1'000'000; ++i) {
      v.referrer_host = random_host();
      v.landing_host = random_host();  // every visit lands on another host too
      d.record(v, r, k_noon + i);
      if (i == 10'000) at_bound = heap() - before;
    }
    auto after = heap() - before;
    BOOST_TEST(d.hosts.size() == day_insights::k_hosts);
    BOOST_TEST(d.hosts.evictions() == 1'000'000u - day_insights::k_hosts);
    BOOST_TEST_MESSAGE("heap of one day: " << at_bound << " bytes after 10,000 hosts, " << after
                                           << " after 1,000,000");
    // What the summaries keep: k_hosts entries of a ~60-byte key and up to four landing
    // hosts of as much, well under 1 MiB.
    BOOST_TEST(after < std::size_t(1) << 20);
    BOOST_TEST(after <= at_bound + (std::size_t(64) << 10));
  }
#endif
}

BOOST_AUTO_TEST_CASE(rules_are_counted_as_a_map_of_them_would) {
  // Thousands of rules of each kind, small ids (a dense count's array), ids far apart and
  // negative ones (its table), counted out of order, in both forms: the same counts as an
  // ordered map, listed by kind then id.
  for (bool dense : {false, true}) {
    rule_counts counts(dense);
    std::map<rule_ref, std::uint64_t> truth;
    std::mt19937_64 rng(11);
    for (int i = 0; i < 50'000; ++i) {
      auto small = static_cast<std::int64_t>(rng() % 20'000);
      auto far = static_cast<std::int64_t>(rng() % 5000) * 1'000'003 - 7;
      rule_ref r{static_cast<rule_ref::kind>(rng() % 3), i % 2 == 0 ? small : far};
      counts.add(r, static_cast<std::uint64_t>(i % 4 + 1));
      truth[r] += static_cast<std::uint64_t>(i % 4 + 1);
    }
    counts.add({rule_ref::kind::mapping, 5}, 0);  // counts nothing
    auto listed = counts.sorted();
    BOOST_REQUIRE(listed.size() == truth.size());
    BOOST_TEST(counts.size() == truth.size());
    std::size_t i = 0;
    for (const auto& [r, n] : truth) {
      BOOST_TEST((listed[i].first == r));
      BOOST_TEST(listed[i].second == n);
      BOOST_TEST(counts.at(r) == n);
      ++i;
    }
    BOOST_TEST(counts.at({rule_ref::kind::mapping, 123456789}) == 0u);
    rule_ref last{rule_ref::kind::channel_rule, rule_counts::k_dense - 1};
    auto expected = truth.count(last) != 0 ? truth.at(last) : 0;
    BOOST_TEST(counts.at(last) == expected);
    auto copy = counts;
    BOOST_TEST((copy == counts));
    copy.add({rule_ref::kind::mapping, 1});
    BOOST_TEST(!(copy == counts));
    // A sparse count and a dense one of the same rules are equal.
    rule_counts other;
    for (const auto& [r, n] : truth)
      other.add(r, n);
    BOOST_TEST((other == counts));
  }
}

BOOST_AUTO_TEST_CASE(counts_deferred_to_a_run_are_read_as_counted) {
  // count() defers to a run of k_pending: every reader (at, size, sorted, a copy's compare)
  // sees each count at once, whether the run is settled yet or not, in both forms.
  for (bool dense : {false, true}) {
    rule_counts counts(dense);
    std::map<rule_ref, std::uint64_t> truth;
    std::mt19937_64 rng(5);
    for (int i = 0; i < 1000; ++i) {
      auto small = static_cast<std::int64_t>(rng() % 3000);
      auto far = static_cast<std::int64_t>(rng() % 50) * 1'000'003 + 70'000;
      rule_ref r{static_cast<rule_ref::kind>(rng() % 3), i % 3 == 0 ? far : small};
      counts.count(r);
      ++truth[r];
      if (i % 37 == 0) {  // read in the middle of a run
        BOOST_TEST(counts.at(r) == truth[r]);
        BOOST_TEST(counts.size() == truth.size());
      }
      if (i % 101 == 0) {
        auto copy = counts;
        copy.count(r);
        BOOST_TEST(copy.at(r) == truth[r] + 1);
        BOOST_TEST(!(copy == counts));
      }
    }
    auto listed = counts.sorted();
    BOOST_REQUIRE(listed.size() == truth.size());
    std::size_t i = 0;
    for (const auto& [r, n] : truth) {
      BOOST_TEST((listed[i].first == r));
      BOOST_TEST(listed[i].second == n);
      ++i;
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
