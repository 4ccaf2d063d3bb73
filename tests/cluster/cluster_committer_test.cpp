// Group commit onto the stream: an account's writes in order, those submitted while one is
// in flight grouped into one message, accounts in parallel, a failure blocking the account
// until its actor resets it.

#include "cluster/cluster_committer.hpp"

#include <boost/test/unit_test.hpp>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "cluster/cluster_cache.hpp"
#include "cluster/cluster_events.hpp"
#include "snapshots/verify.hpp"
#include "tests/cluster/helpers.hpp"

using namespace referrald;
using namespace referrald::store;
using namespace referrald::cluster;
using namespace std::chrono_literals;
using testing::open_log;

namespace {

// Counts answers and keeps the first error.
struct outcomes {
  std::mutex mu;
  std::condition_variable cv;
  std::size_t done = 0;
  std::vector<std::uint64_t> seqs;
  std::vector<domain::errc> errors;

  cluster_committer::done_fn collect() {
    return [this](const domain::result<std::uint64_t>& r) {
      std::lock_guard lock(mu);
      ++done;
      if (r) {
        seqs.push_back(*r);
      } else {
        errors.push_back(r.err().code);
      }
      cv.notify_all();
    };
  }
  void wait_for(std::size_t n) {
    std::unique_lock lock(mu);
    BOOST_REQUIRE(cv.wait_for(lock, 20s, [&] { return done >= n; }));
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(cluster_committer_suite)

BOOST_AUTO_TEST_CASE(an_accounts_writes_go_out_in_order_and_grouped) {
  testing::nats_cluster cluster(3);
  auto log = open_log(cluster);
  cluster_committer committer(*log);
  committer.reset("acme", 0);
  workload::event_generator gen("acme", 11);
  outcomes out;
  for (int i = 0; i < 200; ++i) {
    std::uint64_t first = gen.state().seq() + 1;
    committer.submit("acme", first, gen.values(1), out.collect());
  }
  out.wait_for(200);
  BOOST_TEST(out.errors.empty());
  // Fewer messages than writes: those waiting behind one in flight went out together.
  std::size_t messages = 0;
  BOOST_REQUIRE(log->read_account("acme", 1,
                                  [&](const cluster_write&) {
                                    ++messages;
                                    return true;
                                  })
                    .ok());
  BOOST_TEST(messages < 200u);
  BOOST_TEST_MESSAGE("200 writes in " << messages << " messages");
  // In order, each answer naming the message that holds it, and one valid history.
  BOOST_TEST(std::is_sorted(out.seqs.begin(), out.seqs.end()));
  auto verified = snapshots::verify_history(cluster_events(*log));
  BOOST_REQUIRE(verified.ok());
  BOOST_TEST(!verified->problem.has_value());
  BOOST_TEST(verified->events == 200u);
}

BOOST_AUTO_TEST_CASE(accounts_write_in_parallel_from_many_threads) {
  testing::nats_cluster cluster(3);
  auto log = open_log(cluster);
  cluster_committer committer(*log);
  outcomes out;
  std::vector<std::thread> actors;
  for (int a = 0; a < 8; ++a) {
    std::string account = "acct" + std::to_string(a);
    committer.reset(account, 0);
    actors.emplace_back([&, account, a] {
      workload::event_generator gen(account, static_cast<unsigned>(a));
      for (int i = 0; i < 25; ++i) {
        std::uint64_t first = gen.state().seq() + 1;
        committer.submit(account, first, gen.values(1 + i % 3), out.collect());
      }
    });
  }
  for (auto& t : actors)
    t.join();
  out.wait_for(200);
  BOOST_TEST(out.errors.empty());
  auto verified = snapshots::verify_history(cluster_events(*log));
  BOOST_REQUIRE(verified.ok());
  BOOST_TEST(!verified->problem.has_value());
  BOOST_TEST(verified->accounts == 8u);
}

BOOST_AUTO_TEST_CASE(a_conflict_blocks_the_account_until_it_is_reset) {
  testing::nats_cluster cluster(1);
  auto log = open_log(cluster);
  auto other_node = open_log(cluster);
  cluster_committer committer(*log);
  outcomes out;
  // Not reset yet: the account's position is unknown, nothing is sent.
  workload::event_generator mine("acme", 1);
  committer.submit("acme", 1, mine.values(1), out.collect());
  out.wait_for(1);
  BOOST_REQUIRE(out.errors.size() == 1u);
  BOOST_TEST((out.errors[0] == domain::errc::unavailable));

  committer.reset("acme", 0);
  // Another node writes the account first.
  workload::event_generator theirs("acme", 2);
  cluster_write w{"acme", 1, theirs.values(2), 0, ""};
  auto their_seq = other_node->append(w, 0);
  BOOST_REQUIRE(their_seq.ok());
  committer.submit("acme", 2, mine.values(1), out.collect());  // built on mine: refused
  out.wait_for(2);
  BOOST_REQUIRE(out.errors.size() == 2u);
  BOOST_TEST((out.errors[1] == domain::errc::beaten));
  // Blocked until the actor caught up and reset it.
  workload::event_generator caught_up(theirs.state(), 3);
  committer.submit("acme", 3, caught_up.values(1), out.collect());
  out.wait_for(3);
  BOOST_TEST((out.errors.back() == domain::errc::beaten));
  committer.reset("acme", *their_seq);
  workload::event_generator after(theirs.state(), 4);
  committer.submit("acme", 3, after.values(2), out.collect());
  out.wait_for(4);
  BOOST_TEST(out.seqs.size() == 1u);
  auto verified = snapshots::verify_history(cluster_events(*log));
  BOOST_REQUIRE(verified.ok());
  BOOST_TEST(!verified->problem.has_value());
  BOOST_TEST(verified->events == 4u);
}

BOOST_AUTO_TEST_SUITE_END()
