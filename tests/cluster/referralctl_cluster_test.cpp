// referralctl reading a cluster's stream: events, replay, history and verify over writes
// made by the cluster log, a broken chain found, and a cluster without a stream refused.

#include <algorithm>
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <future>
#include <string>
#include <thread>

#include <rapidjson/document.h>
#include <fstream>
#include <sstream>

#include "cluster/cluster_log.hpp"
#include "domain/attribution/resolver.hpp"
#include "domain/base/json.hpp"
#include "tests/cluster/helpers.hpp"
#include "tests/support/command.hpp"
#include "tests/support/eventually.hpp"

using namespace referrald;
using namespace referrald::store;
using namespace referrald::cluster;
using namespace std::chrono_literals;
using testing::open_log;
using testing::referralctl;

namespace {

std::size_t lines(const std::string& s) {
  std::size_t n = 0;
  for (char c : s)
    n += c == '\n' ? 1 : 0;
  return n;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(referralctl_cluster)

BOOST_AUTO_TEST_CASE(events_replay_history_and_verify_read_the_stream) {
  testing::nats_cluster cluster(3);
  auto log = open_log(cluster);
  workload::event_generator acme("acme", 7), zeta("zeta", 8);
  std::uint64_t at = testing::write_next(*log, acme, 3, 0);
  testing::write_next(*log, zeta, 4, 0);
  at = testing::write_next(*log, acme, 2, at);
  testing::write_next(*log, acme, 1, at);
  std::string on = "--cluster " + cluster.urls() + " ";

  auto verified = referralctl(on + "verify");
  BOOST_TEST(verified.exit == 0, verified.output);
  BOOST_TEST(verified.output.find("ok: 2 accounts, 10 events verified in the cluster's stream") !=
                 std::string::npos,
             verified.output);

  auto events = referralctl(on + "events --account acme");
  BOOST_TEST(events.exit == 0, events.output);
  BOOST_TEST(lines(events.output) == 6u);
  BOOST_TEST(events.output.find("\"seq\":6") != std::string::npos);

  // The rules as they stood after event 3, folded from the stream's events.
  auto replayed = referralctl(on + "replay --account acme --seq 3");
  BOOST_TEST(replayed.exit == 0, replayed.output);
  BOOST_TEST(replayed.output.find("\"seq\":3") != std::string::npos, replayed.output);

  const auto& first = acme.events().front();
  std::string kind = domain::kind_of(first.type) == domain::entity_kind::passthrough_referrer
                         ? "passthrough-referrers"
                         : "referrer-mappings";
  auto history = referralctl(on + "history --account acme --entity " + kind + " --id " +
                             std::to_string(first.entity_id));
  BOOST_TEST(history.exit == 0, history.output);
  BOOST_TEST(lines(history.output) >= 1u);

  auto none = referralctl(on + "events --account nobody");
  BOOST_TEST(none.exit == 1);
  BOOST_TEST(none.output.find("has no events in the cluster's stream") != std::string::npos);

  BOOST_TEST(referralctl(on + "--data /tmp verify").exit == 2);
}

BOOST_AUTO_TEST_CASE(stepdown_moves_the_leadership_while_writes_go_on) {
  testing::nats_cluster cluster(3);
  auto log = open_log(cluster);
  workload::event_generator acme("acme", 11);
  std::uint64_t at = testing::write_next(*log, acme, 2, 0);
  auto before = log->status();
  BOOST_REQUIRE(before.ok());
  BOOST_REQUIRE(!before->leader.empty());
  // Writes go on, one after another, while the leadership moves; the longest wait between
  // two acknowledged writes is the pause the hand-over cost.
  // Every write succeeds: one published while the stream has no leader is published again
  // (both ways of appending, in turns).
  std::atomic<bool> stop{false};
  std::atomic<long> longest_ms{0};
  std::atomic<int> written{0};
  std::atomic<int> failed{0};
  std::string first_failure;
  std::thread writer([&] {
    workload::event_generator beta("beta", 12);
    std::uint64_t last = 0;
    auto prev = std::chrono::steady_clock::now();
    while (!stop) {
      cluster::cluster_write w;
      w.account_id = "beta";
      w.first_seq = beta.state().seq() + 1;
      w.values = beta.values(1);
      auto append = [&]() -> domain::result<std::uint64_t> {
        if (written % 2 == 0) return log->append(w, last);
        std::promise<domain::result<std::uint64_t>> outcome;
        log->append_async(
            w, last, [&](domain::result<std::uint64_t> r) { outcome.set_value(std::move(r)); });
        return outcome.get_future().get();
      };
      auto seq = append();
      while (!seq && !stop) {
        if (failed++ == 0) first_failure = seq.err().message;
        seq = append();
      }
      if (!seq) break;
      last = *seq;
      auto now = std::chrono::steady_clock::now();
      long gap = std::chrono::duration_cast<std::chrono::milliseconds>(now - prev).count();
      longest_ms = std::max(longest_ms.load(), gap);
      prev = now;
      ++written;
    }
  });
  // Writes before the step-down, and after it.
  BOOST_REQUIRE(testing::eventually([&] { return written.load() >= 50; }, 30s));
  auto moved = referralctl("--cluster " + cluster.urls() + " cluster stepdown");
  int at_step_down = written.load();
  BOOST_REQUIRE(testing::eventually([&] { return written.load() >= at_step_down + 50; }, 30s));
  stop = true;
  writer.join();
  BOOST_TEST(moved.exit == 0, moved.output);
  BOOST_TEST(moved.output.find("\"stream\":\"REFERRALD\",\"leader_before\":\"" + before->leader +
                               "\"") != std::string::npos,
             moved.output);
  auto after = log->status();
  BOOST_REQUIRE(after.ok());
  BOOST_TEST(!after->leader.empty());
  BOOST_TEST(after->leader != before->leader);
  BOOST_TEST(written.load() > 0);
  BOOST_TEST(failed.load() == 0, first_failure);
  BOOST_TEST_MESSAGE("writes' longest pause around the stepdown: " << longest_ms.load() << " ms");
  BOOST_TEST(longest_ms.load() < 5000);
  // The account written before the hand-over takes its next write at the new leader.
  testing::write_next(*log, acme, 1, at);
}

BOOST_AUTO_TEST_CASE(stepdown_refuses_a_stream_of_one_replica) {
  testing::nats_cluster cluster(1);
  auto log = open_log(cluster);
  workload::event_generator acme("acme", 13);
  testing::write_next(*log, acme, 1, 0);
  auto r = referralctl("--cluster " + cluster.urls() + " cluster stepdown");
  BOOST_TEST(r.exit == 1, r.output);
  BOOST_TEST(r.output.find("one replica") != std::string::npos, r.output);
}

BOOST_AUTO_TEST_CASE(verify_names_the_first_event_that_does_not_chain) {
  testing::nats_cluster cluster(1);
  auto log = open_log(cluster);
  workload::event_generator good("good", 3), bad("bad", 4);
  testing::write_next(*log, good, 3, 0);
  std::uint64_t at = testing::write_next(*log, bad, 2, 0);
  // A write whose events skip one: the stream takes it (the expectation holds), verify
  // does not.
  cluster_write gap;
  gap.account_id = "bad";
  gap.first_seq = 4;
  (void)bad.values(1);  // event 3, never written
  gap.values = bad.values(1);
  BOOST_REQUIRE(log->append(gap, at).ok());
  auto r = referralctl("--cluster " + cluster.urls() + " verify");
  BOOST_TEST(r.exit == 1, r.output);
  BOOST_TEST(r.output.find("FAILED: account bad, event 3") != std::string::npos, r.output);
}

BOOST_AUTO_TEST_CASE(a_cluster_without_the_stream_is_refused_and_not_changed) {
  testing::nats_cluster cluster(1);
  auto r = referralctl("--cluster " + cluster.urls() + " verify");
  BOOST_TEST(r.exit == 1, r.output);
  BOOST_TEST(r.output.find("has no stream") != std::string::npos, r.output);
  // Still none: a reader never creates it.
  auto again = referralctl("--cluster " + cluster.urls() + " verify");
  BOOST_TEST(again.output.find("has no stream") != std::string::npos, again.output);
}

// attribute on a cluster's stream: each visit resolved as the rules stood at its time, the
// same answer as resolving in-process against the rules the writes made (after them) or
// against none (before them).
BOOST_AUTO_TEST_CASE(attribute_resolves_visits_against_the_streams_history) {
  testing::nats_cluster cluster(3);
  auto log = open_log(cluster);
  workload::event_generator acme("acme", 11);
  domain::account_state before("acme");
  before.refresh_indexes();
  std::uint64_t at = 0;
  for (int i = 0; i < 4; ++i)
    at = testing::write_next(*log, acme, 10, at);
  domain::account_state after = acme.state();
  after.refresh_indexes();
  domain::unix_ms first = acme.events().front().timestamp, last = acme.state().last_timestamp();

  std::vector<std::string> hosts = {"www.google.com", "chatgpt.com", "elsewhere.example"};
  for (int id = 1; id <= 40; ++id) {
    hosts.push_back("pass" + std::to_string(id) + ".example.com");
    hosts.push_back("map" + std::to_string(id) + ".example.com");
  }
  testing::temp_dir dir;
  std::string input, expected_text;
  std::vector<std::pair<std::string, std::string>> expected;  // input line, resolution
  for (bool late : {false, true}) {
    for (const auto& host : hosts) {
      std::string visit = R"({"referrer":"https://)" + host +
                          R"(/p","landing_url":"https://h.example/","session":{"utm_source":"s"}})";
      std::string line = R"({"t":)" + std::to_string(late ? last + 1 : first - 1) +
                         R"(,"visit":1,)" + visit.substr(1);
      input += line + "\n";
      rapidjson::Document doc;
      doc.Parse(visit.c_str());
      auto v = domain::parse_visit(doc);
      BOOST_REQUIRE(v.ok());
      std::string res;
      domain::append_json(res, domain::resolve(late ? after : before, *v));
      expected.emplace_back(line, res);
    }
  }
  {
    std::ofstream f(dir.sub("visits.ndjson"));
    f << input;
  }
  auto r = referralctl("--cluster " + cluster.urls() + " attribute --account acme --time-field t " +
                       "--quiet --input " + dir.sub("visits.ndjson") + " --output " +
                       dir.sub("out.ndjson"));
  BOOST_REQUIRE_MESSAGE(r.exit == 0, r.output);
  std::ifstream out(dir.sub("out.ndjson"));
  std::string got;
  std::size_t i = 0, matched_rules = 0;
  while (std::getline(out, got)) {
    BOOST_REQUIRE(i < expected.size());
    const auto& [line, res] = expected[i++];
    // The record's own fields, then the resolution's members.
    BOOST_REQUIRE_MESSAGE(got.compare(0, line.size() - 1, line, 0, line.size() - 1) == 0, got);
    BOOST_TEST("{" + got.substr(line.size()) == res, "line " << i);
    if (res.find("\"rule\":{") != std::string::npos) ++matched_rules;
  }
  BOOST_TEST(i == expected.size());
  // The history's rules decided some of the late visits, and none of the early ones.
  BOOST_TEST(matched_rules > 0u);

  auto unknown =
      referralctl("--cluster " + cluster.urls() + " attribute --account nobody --quiet --input " +
                  dir.sub("visits.ndjson"));
  BOOST_TEST(unknown.exit != 0);
}

BOOST_AUTO_TEST_SUITE_END()
