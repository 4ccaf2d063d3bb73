#include "actors/insights_collector.hpp"

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "domain/rules/channel_rule.hpp"
#include "store/db.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_clock.hpp"

using namespace referrald;
using namespace std::chrono_literals;

namespace {

using day_key = std::pair<std::string, std::int64_t>;

// What two days hold, compared member by member (the summaries exact: fewer hosts than
// they keep).
void require_same(const domain::day_insights& got, const domain::day_insights& want) {
  BOOST_TEST(got.resolutions == want.resolutions);
  BOOST_TEST((got.by_reason == want.by_reason));
  BOOST_TEST((got.by_channel == want.by_channel));
  BOOST_TEST((got.by_rule.sorted() == want.by_rule.sorted()));
  BOOST_REQUIRE(got.hosts.size() == want.hosts.size());
  for (const auto* w : want.hosts.ranked()) {
    const auto* g = got.hosts.find(w->key);
    BOOST_REQUIRE_MESSAGE(g != nullptr, "host " << w->key.substr(0, 40) << " missing");
    BOOST_TEST(g->count == w->count);
    BOOST_TEST(g->error == 0u);
    BOOST_TEST(g->data.with_session == w->data.with_session);
    BOOST_TEST(g->data.first_seen == w->data.first_seen);
    BOOST_TEST(g->data.last_seen == w->data.last_seen);
    // The same landing hosts (in the order of their first visit, which merges may change).
    auto g_landing = g->data.landing_hosts, w_landing = w->data.landing_hosts;
    std::sort(g_landing.begin(), g_landing.end());
    std::sort(w_landing.begin(), w_landing.end());
    BOOST_TEST((g_landing == w_landing));
  }
  BOOST_REQUIRE(got.mediums.size() == want.mediums.size());
  for (const auto* w : want.mediums.ranked()) {
    const auto* g = got.mediums.find(w->key);
    BOOST_REQUIRE(g != nullptr);
    BOOST_TEST(g->count == w->count);
    BOOST_TEST(g->data.first_seen == w->data.first_seen);
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(insights_collector_counts)

BOOST_AUTO_TEST_CASE(what_threads_count_reads_as_counted_at_once_whatever_path_it_took) {
  // Counts from two threads, single and in runs, for three accounts (one with a long
  // identifier) over three days, with texts too long to be written down (counted in the
  // thread's own days), and enough records between two reads that a log passes the size at
  // which the thread stops writing to it: the days read are the days counted directly.
  testing::temp_dir dir;
  store::open_options options;
  options.path = dir.path() + "/data";
  options.min_free_bytes = 0;
  auto db = store::db::open(options);
  BOOST_REQUIRE(db);
  testing::test_clock clock;
  actors::insights_options o;
  o.merge_every = 1h;  // merged by reads and by logs asking to be counted only
  o.flush_every = 1h;
  actors::insights_collector collector(**db, clock, o);

  const std::vector<std::string> accounts = {"acme", "a-much-longer-account-identifier-0001",
                                             "hotel"};
  domain::channel_rule rule_a, rule_b;
  rule_a.id = 3;
  rule_b.id = 70'000;  // past a thread's arrays: its table
  const std::string long_host = "x" + std::string(70'000, 'h') + ".example";
  const std::string long_channel(70'000, 'C');
  std::vector<std::string> hosts;
  for (int i = 0; i < 300; ++i)
    hosts.push_back("referrer-" + std::to_string(i) + ".example.org");
  // More channels than a run adds up before it writes them, one of them twice (the same
  // name at another address), one longer than a run adds up, one too long to write down.
  const std::string referral_again = "Referral", named_at_length(300, 'N');
  const std::vector<std::string_view> channels = {
      "Referral",    "Unassigned", "Organic Search", "Ours",          "Email",
      "Paid Search", "Display",    "Organic Social", "Paid Social",   "Affiliates",
      "Audio",       "SMS",        referral_again,   named_at_length, long_channel};
  const std::vector<std::string> mediums = {"partner-x", "print", "qr-code"};

  // The first ones only: a run's totals grow long before they are written.
  std::size_t channel_choices = channels.size(), reason_choices = 100;
  std::map<day_key, domain::day_insights> want;
  std::mt19937_64 rng(17);
  // One counted resolution of `account` at the clock's time, on `t` or alone.
  auto one = [&](const std::string& account, actors::insights_collector::tally* t) {
    domain::visit v;
    domain::resolution r;
    auto reasons = domain::all_reasons();
    r.reason = reasons[rng() % std::min(reasons.size(), reason_choices)];
    r.channel = channels[rng() % channel_choices];
    switch (rng() % 3) {
      case 0:
        r.rule_type = "mapping";
        r.rule_id = static_cast<std::int64_t>(rng() % 12'000 + 1);
        break;
      case 1:
        r.rule_type = "passthrough";
        r.rule_id = static_cast<std::int64_t>(rng() % 40 + 1);
        break;
      default:
        break;
    }
    if (rng() % 4 == 0) r.channel_rule = rng() % 2 ? &rule_a : &rule_b;
    v.referrer_host = rng() % 500 == 0 ? long_host : hosts[rng() % hosts.size()];
    v.landing_host = rng() % 2 ? "hotel.example" : "www.hotel.example";
    if (rng() % 3 == 0) v.session = domain::utm_values{};
    if (r.reason == domain::reasons::utm) r.utms.medium = mediums[rng() % mediums.size()];
    if (t != nullptr) {
      t->count(v, r);
    } else {
      collector.count(account, v, r);
    }
    auto at = clock.now_ms();
    auto& d = want[{account, domain::day_of(at)}];
    d.day = domain::day_of(at);
    d.record(v, r, at);
  };

  std::thread other([&] {
    // The other thread counts for an account of its own, on its own slot.
    std::mt19937_64 mine(3);
    domain::visit v;
    v.referrer_host = "other-thread.example";
    domain::resolution r;
    r.reason = domain::reasons::referral;
    r.channel = "Referral";
    for (int i = 0; i < 30'000; ++i)
      collector.count("other", v, r);
  });
  for (int day = 0; day < 3; ++day) {
    for (int i = 0; i < 12'000; ++i)
      one(accounts[rng() % accounts.size()], nullptr);
    for (int run = 0; run < 40; ++run) {
      const auto& account = accounts[rng() % accounts.size()];
      actors::insights_collector::tally t(collector, account);
      channel_choices = run % 2 ? channels.size() : 3;
      reason_choices = run % 2 ? 100 : 3;
      for (int i = 0; i < 1000; ++i)
        one(account, &t);
      channel_choices = channels.size();
      reason_choices = 100;
    }
    {
      // A run the collector cannot take from (the run holds the thread's counters) and
      // longer than a log may grow: its last part is counted in the thread's own days.
      const auto& account = accounts[static_cast<std::size_t>(day) % accounts.size()];
      actors::insights_collector::tally t(collector, account);
      for (int i = 0; i < 40'000; ++i)
        one(account, &t);
    }
    clock.advance(std::chrono::hours(9));
    if (day == 1) {
      // Read in the middle: every count before it is in what is read.
      for (const auto& [key, d] : want) {
        collector.read(key.first, key.second, key.second,
                       [&](const std::vector<const domain::day_insights*>& days) {
                         BOOST_REQUIRE(days.size() == 1);
                         require_same(*days[0], d);
                       });
      }
    }
    clock.advance(std::chrono::hours(9));
  }
  other.join();
  for (const auto& [key, d] : want) {
    collector.read(key.first, key.second, key.second,
                   [&](const std::vector<const domain::day_insights*>& days) {
                     BOOST_REQUIRE(days.size() == 1);
                     require_same(*days[0], d);
                   });
  }
  auto today = domain::day_of(clock.now_ms());
  collector.read("other", today - 5, today,
                 [&](const std::vector<const domain::day_insights*>& days) {
                   std::uint64_t n = 0;
                   for (const auto* d : days)
                     n += d->resolutions;
                   BOOST_TEST(n == 30'000u);
                 });
}

BOOST_AUTO_TEST_SUITE_END()
