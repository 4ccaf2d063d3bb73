#include "store/commit_queue.hpp"

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "domain/metrics.hpp"
#include "tests/support/temp_dir.hpp"

using namespace referrald;
using namespace referrald::store;

BOOST_AUTO_TEST_SUITE(commit_queue_suite)

BOOST_AUTO_TEST_CASE(every_submit_is_written_and_acknowledged_once) {
  testing::temp_dir dir;
  auto d = db::open({dir.path(), false});
  BOOST_REQUIRE(d.ok());
  constexpr int threads = 8;
  constexpr int per_thread = 50;
  std::atomic<int> acks{0};
  std::atomic<int> failures{0};
  auto commits_before = domain::metrics().store_commits.load();
  {
    commit_queue q(**d);
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i) {
          write_batch b;
          b.put(column::meta, "k" + std::to_string(t) + "-" + std::to_string(i), "v");
          std::promise<void> done;
          q.submit(std::move(b), [&](const domain::status& st) {
            if (!st) ++failures;
            ++acks;
            done.set_value();
          });
          done.get_future().wait();  // each writer waits for its own durable ack
        }
      });
    }
    for (auto& t : ts)
      t.join();
  }
  BOOST_TEST(acks.load() == threads * per_thread);
  BOOST_TEST(failures.load() == 0);
  for (int t = 0; t < threads; ++t) {
    for (int i = 0; i < per_thread; ++i) {
      auto v = (*d)->get(column::meta, "k" + std::to_string(t) + "-" + std::to_string(i));
      BOOST_REQUIRE(v.ok());
      BOOST_TEST(v->has_value());
    }
  }
  // Concurrent writers share fsyncs: fewer commits than requests.
  auto commits = domain::metrics().store_commits.load() - commits_before;
  BOOST_TEST(commits < static_cast<std::uint64_t>(threads * per_thread));
}

BOOST_AUTO_TEST_CASE(callbacks_run_in_submission_order) {
  testing::temp_dir dir;
  auto d = db::open({dir.path(), false});
  BOOST_REQUIRE(d.ok());
  std::vector<int> order;
  std::mutex mu;
  {
    commit_queue q(**d);
    for (int i = 0; i < 500; ++i) {
      write_batch b;
      b.put(column::meta, "k" + std::to_string(i), "v");
      q.submit(std::move(b), [&, i](const domain::status&) {
        std::lock_guard lock(mu);
        order.push_back(i);
      });
    }
  }  // destructor drains
  BOOST_REQUIRE(order.size() == 500u);
  for (int i = 0; i < 500; ++i)
    BOOST_TEST(order[i] == i);
}

BOOST_AUTO_TEST_CASE(a_failed_write_makes_every_later_submit_fail) {
  testing::temp_dir dir;
  { BOOST_REQUIRE(db::open({dir.path(), false}).ok()); }
  auto ro = db::open({dir.path(), true});  // writes to a read-only store fail
  BOOST_REQUIRE(ro.ok());
  commit_queue q(**ro);
  std::vector<std::promise<domain::status>> results(3);
  for (auto& p : results) {
    write_batch b;
    b.put(column::meta, "k", "v");
    q.submit(std::move(b), [&p](const domain::status& st) { p.set_value(st); });
  }
  for (auto& p : results)
    BOOST_TEST(!p.get_future().get().ok());
  std::promise<domain::status> late;
  q.submit(write_batch{}, [&](const domain::status& st) { late.set_value(st); });
  auto st = late.get_future().get();
  BOOST_REQUIRE(!st.ok());
  BOOST_TEST(st.err().message.find("earlier failure") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(submits_after_stop_are_refused_immediately) {
  testing::temp_dir dir;
  auto d = db::open({dir.path(), false});
  BOOST_REQUIRE(d.ok());
  commit_queue q(**d);
  q.stop();
  bool refused = false;
  q.submit(write_batch{}, [&](const domain::status& st) { refused = !st.ok(); });
  BOOST_TEST(refused);
}

BOOST_AUTO_TEST_SUITE_END()
