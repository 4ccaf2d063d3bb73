// A node's local copy of the stream: two nodes following the same writes hold the same
// events (a valid embedded store each), a restarted node applies only what it had not,
// and a write that does not continue an account's history is refused whole.

#include "cluster/cluster_cache.hpp"

#include <boost/test/unit_test.hpp>
#include <condition_variable>
#include <mutex>

#include "snapshots/verify.hpp"
#include "store/event_log.hpp"
#include "tests/cluster/helpers.hpp"
#include "tests/support/temp_dir.hpp"

using namespace referrald;
using namespace referrald::store;
using namespace referrald::cluster;
using namespace std::chrono_literals;
using testing::open_log;

namespace {

// The stored values of `account`'s events in `store`, in order.
std::vector<std::string> held(const db& store, const std::string& account) {
  std::vector<std::string> out;
  BOOST_REQUIRE(event_log(store)
                    .scan_raw(account,
                              [&](std::uint64_t, std::string_view v) {
                                out.emplace_back(v);
                                return true;
                              })
                    .ok());
  return out;
}

// A node: its RocksDB cache, following the stream from where it stopped.
struct node {
  testing::temp_dir dir;
  std::unique_ptr<db> store;
  std::unique_ptr<cluster_log> log;
  std::mutex mu;
  std::condition_variable cv;
  std::uint64_t last_applied = 0;
  std::vector<std::string> problems;

  void start(const testing::nats_cluster& c) {
    if (!store) store = std::move(*db::open({dir.path(), false}));
    log = open_log(c);
    cluster_cache cache(*store);
    std::uint64_t from = *cache.applied() + 1;
    BOOST_REQUIRE(log->follow(from,
                              [this](domain::result<cluster_message> m) {
                                std::lock_guard lock(mu);
                                if (!m) {
                                  problems.push_back(m.err().message);
                                  cv.notify_all();
                                  return;
                                }
                                const auto& w = std::get<cluster_write>(m->body);
                                if (auto st = cluster_cache(*store).apply(w); !st) {
                                  problems.push_back(st.err().message);
                                } else {
                                  last_applied = w.stream_seq;
                                }
                                cv.notify_all();
                              })
                      .ok());
  }
  void stop() { log.reset(); }
  void wait_for(std::uint64_t seq) {
    std::unique_lock lock(mu);
    BOOST_REQUIRE(cv.wait_for(lock, 10s, [&] { return last_applied >= seq; }));
  }
  std::vector<std::string> values(const std::string& account) { return held(*store, account); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(cluster_cache_suite)

BOOST_AUTO_TEST_CASE(nodes_following_one_stream_hold_the_same_valid_history) {
  testing::nats_cluster cluster(3);
  auto writer = open_log(cluster);
  node a, b;
  a.start(cluster);
  workload::event_generator acme("acme", 1), zeta("zeta", 2);
  std::uint64_t at_acme = testing::write_next(*writer, acme, 4, 0);
  std::uint64_t at_zeta = testing::write_next(*writer, zeta, 2, 0);
  at_acme = testing::write_next(*writer, acme, 3, at_acme);
  b.start(cluster);  // joins late: reads from the start
  at_zeta = testing::write_next(*writer, zeta, 1, at_zeta);
  a.wait_for(at_zeta);
  b.wait_for(at_zeta);
  BOOST_TEST(a.problems.empty());
  BOOST_TEST(b.problems.empty());
  for (auto* n : {&a, &b}) {
    BOOST_TEST(n->values("acme").size() == 7u);
    BOOST_TEST((n->values("acme") == a.values("acme")));
    BOOST_TEST((n->values("zeta") == a.values("zeta")));
    cluster_cache cache(*n->store);
    BOOST_TEST(*cache.applied() == at_zeta);
    BOOST_TEST(*cache.stream_head("acme") == at_acme);
    BOOST_TEST(*cache.stream_head("zeta") == at_zeta);
    BOOST_TEST(*cache.stream_head("nobody") == 0u);
    // The cache is an embedded store like any other.
    auto verified = snapshots::verify_store(*n->store);
    BOOST_REQUIRE(verified.ok());
    BOOST_TEST(!verified->problem.has_value());
    BOOST_TEST(verified->events == 10u);
  }
  // The same events the generator made, byte for byte.
  auto loaded = event_log(*a.store).load("acme");
  BOOST_REQUIRE(loaded.ok());
  BOOST_TEST((*loaded == acme.state()));
}

BOOST_AUTO_TEST_CASE(a_restarted_node_applies_only_what_it_had_not) {
  testing::nats_cluster cluster(1);
  auto writer = open_log(cluster);
  node n;
  n.start(cluster);
  workload::event_generator acme("acme", 5);
  std::uint64_t at = testing::write_next(*writer, acme, 2, 0);
  n.wait_for(at);
  n.stop();
  at = testing::write_next(*writer, acme, 3, at);
  at = testing::write_next(*writer, acme, 1, at);
  n.start(cluster);
  n.wait_for(at);
  BOOST_TEST(n.problems.empty());
  BOOST_TEST(n.values("acme").size() == 6u);
  // A write seen again (a crash before the applied mark was written) changes nothing.
  auto again = writer->get(at);
  BOOST_REQUIRE(again.ok() && again->has_value());
  cluster_cache cache(*n.store);
  BOOST_TEST(cache.apply(**again).ok());
  BOOST_TEST(n.values("acme").size() == 6u);
}

BOOST_AUTO_TEST_CASE(a_write_that_does_not_continue_the_history_is_refused_whole) {
  testing::temp_dir dir;
  auto store = std::move(*db::open({dir.path(), false}));
  cluster_cache cache(*store);
  workload::event_generator acme("acme", 9);
  cluster_write first{"acme", 1, acme.values(2), 1, "t/1"};
  BOOST_REQUIRE(cache.apply(first).ok());
  (void)acme.values(1);  // event 3, never applied
  cluster_write gap{"acme", 4, acme.values(2), 2, "t/2"};
  auto refused = cache.apply(gap);
  BOOST_REQUIRE(!refused.ok());
  BOOST_TEST((refused.err().code == domain::errc::store_corrupted));
  BOOST_TEST(refused.err().message.find("write 2") != std::string::npos, refused.err().message);
  // Claims to continue, but its first event does not chain to event 2.
  workload::event_generator other("acme", 10);
  (void)other.values(2);
  cluster_write forged{"acme", 3, other.values(1), 3, "t/3"};
  BOOST_TEST(!cache.apply(forged).ok());
  BOOST_TEST(*cache.applied() == 1u);
  BOOST_TEST(*event_log(*store).head("acme") == 2u);
}

// A write published again without its fence (no node does; a client with publish rights
// can) holds events the copy holds already: not applied again, but the account's stream
// head moves to it, where the stream's fence for the account's next write is. A message at
// those sequence numbers with other events is still a write that does not fit.
BOOST_AUTO_TEST_CASE(a_write_published_again_moves_the_head_and_applies_nothing) {
  testing::temp_dir dir;
  auto store = std::move(*db::open({dir.path(), false}));
  cluster_cache cache(*store);
  workload::event_generator acme("acme", 13);
  cluster_write first{"acme", 1, acme.values(2), 1, "t/1"};
  cluster_write second{"acme", 3, acme.values(1), 2, "t/2"};
  BOOST_REQUIRE(cache.apply(first).ok());
  BOOST_REQUIRE(cache.apply(second).ok());
  auto before = held(*store, "acme");
  // The last write again (its head hash remembered), then an older one (read from the copy),
  // then the last again with the copy opened anew (nothing remembered).
  for (auto [again, at] : {std::pair{second, 3u}, std::pair{first, 4u}, std::pair{second, 5u}}) {
    again.stream_seq = at;
    std::vector<domain::event> decoded{domain::event{}};
    bool repeated = false;
    cluster_cache fresh(*store);
    auto& into = at == 5u ? fresh : cache;
    BOOST_REQUIRE(into.add(again, &decoded, &repeated).ok());
    BOOST_REQUIRE(into.commit().ok());
    BOOST_TEST(repeated);
    BOOST_TEST(decoded.empty());
    BOOST_TEST(*into.applied() == at);
    BOOST_TEST(*into.stream_head("acme") == at);
  }
  BOOST_TEST((held(*store, "acme") == before));
  BOOST_TEST(*event_log(*store).head("acme") == 3u);
  // The same sequence numbers with other events: refused, nothing moves.
  workload::event_generator other("acme", 14);
  cluster_write forged{"acme", 1, other.values(2), 6, "t/6"};
  bool repeated = false;
  auto refused = cache.add(forged, nullptr, &repeated);
  BOOST_REQUIRE(!refused.ok());
  BOOST_TEST((refused.err().code == domain::errc::store_corrupted));
  BOOST_TEST(!repeated);
  BOOST_TEST(*cache.stream_head("acme") == 5u);
  // The next write continues the history, after the repeat's position.
  BOOST_REQUIRE(cache.apply(cluster_write{"acme", 4, acme.values(1), 7, "t/7"}).ok());
  BOOST_TEST(*event_log(*store).head("acme") == 4u);
  BOOST_TEST(*cache.stream_head("acme") == 7u);
  // Within one open group (a copy filled anew applies long runs of messages as one), an
  // older write repeated is found in the group.
  workload::event_generator zeta("zeta", 15);
  cluster_write z1{"zeta", 1, zeta.values(1), 8, "t/8"};
  BOOST_REQUIRE(cache.add(z1).ok());
  BOOST_REQUIRE(cache.add(cluster_write{"zeta", 2, zeta.values(1), 9, "t/9"}).ok());
  z1.stream_seq = 10;
  repeated = false;
  BOOST_REQUIRE(cache.add(z1, nullptr, &repeated).ok());
  BOOST_TEST(repeated);
  BOOST_REQUIRE(cache.commit().ok());
  BOOST_TEST(*cache.stream_head("zeta") == 10u);
  BOOST_TEST(*event_log(*store).head("zeta") == 2u);
}

BOOST_AUTO_TEST_CASE(messages_added_together_reach_the_copy_in_one_commit_and_none_before) {
  testing::temp_dir dir;
  auto store = std::move(*db::open({dir.path(), false}));
  cluster_cache cache(*store);
  workload::event_generator acme("acme", 11);
  workload::event_generator zeta("zeta", 12);
  BOOST_REQUIRE(cache.add(cluster_write{"acme", 1, acme.values(2), 1, "t/1"}).ok());
  BOOST_REQUIRE(cache.add(cluster_write{"zeta", 1, zeta.values(1), 2, "t/2"}).ok());
  // Continues acme's write of the same group, which the copy does not hold yet.
  BOOST_REQUIRE(cache.add(cluster_write{"acme", 3, acme.values(2), 3, "t/3"}).ok());
  cluster_records keys{"keys", {{column::keys, "k1", "v1"}}, "t/4", 4};
  BOOST_REQUIRE(cache.add(keys).ok());
  BOOST_TEST(cache.grouped() == 4u);
  BOOST_TEST(cache.grouped_bytes() > 0u);
  // A write that does not fit is refused and leaves the group as it was.
  (void)acme.values(1);  // event 5, never written
  auto gap = cache.add(cluster_write{"acme", 6, acme.values(1), 5, "t/5"});
  BOOST_TEST(!gap.ok());
  BOOST_TEST(cache.grouped() == 4u);
  // A write seen before (at or before the group's last message) joins nothing.
  BOOST_REQUIRE(cache.add(cluster_write{"zeta", 1, {}, 2, "t/2"}).ok());
  BOOST_TEST(cache.grouped() == 4u);
  // Nothing of it is in the copy before the commit.
  BOOST_TEST(*cache.applied() == 0u);
  BOOST_TEST(*cache.stream_head("acme") == 0u);
  BOOST_TEST(*event_log(*store).head("acme") == 0u);
  BOOST_TEST(!store->get(column::keys, "k1")->has_value());
  BOOST_REQUIRE(cache.commit().ok());
  BOOST_TEST(cache.grouped() == 0u);
  BOOST_TEST(*cache.applied() == 4u);
  BOOST_TEST(*cache.stream_head("acme") == 3u);
  BOOST_TEST(*cache.stream_head("zeta") == 2u);
  BOOST_TEST(*cache.scope_head("keys") == 4u);
  BOOST_TEST(*event_log(*store).head("acme") == 4u);
  BOOST_TEST(*event_log(*store).head("zeta") == 1u);
  BOOST_TEST(**store->get(column::keys, "k1") == "v1");
  BOOST_TEST(cache.commit().ok());  // an empty group writes nothing
  // A copy opened anew (nothing remembered) continues from what was committed.
  workload::event_generator acme_again("acme", 11);
  (void)acme_again.values(4);
  cluster_cache reopened(*store);
  BOOST_TEST(!reopened.add(cluster_write{"acme", 5, acme.values(1), 6, "t/6"}).ok());
  BOOST_REQUIRE(reopened.add(cluster_write{"acme", 5, acme_again.values(1), 6, "t/6"}).ok());
  BOOST_REQUIRE(reopened.commit().ok());
  BOOST_TEST(*event_log(*store).head("acme") == 5u);
  auto verified = snapshots::verify_store(*store);
  BOOST_REQUIRE(verified.ok());
  BOOST_TEST(!verified->problem.has_value());
}

BOOST_AUTO_TEST_SUITE_END()
