#include "store/commit_queue.hpp"

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "infra/metrics.hpp"
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
  auto commits_before = infra::metrics().store_commits.load();
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
  auto commits = infra::metrics().store_commits.load() - commits_before;
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

BOOST_AUTO_TEST_CASE(a_failed_write_blocks_its_stream_until_its_writer_resumes_it) {
  testing::temp_dir dir;
  auto d = db::open({dir.path(), false, 0});
  BOOST_REQUIRE(d.ok());
  commit_queue q(**d);
  auto submit = [&](const std::string& stream, const std::string& key) {
    auto p = std::make_shared<std::promise<domain::status>>();
    write_batch b;
    b.put(column::meta, key, "v");
    q.submit(
        std::move(b), [p](const domain::status& st) { p->set_value(st); }, stream);
    return p->get_future().get();
  };
  // The disk is "full": the write is refused before it reaches RocksDB.
  (*d)->set_min_free_bytes(std::uint64_t{1} << 62);
  auto first = submit("s", "a");
  BOOST_REQUIRE(!first.ok());
  BOOST_TEST((first.err().code == domain::errc::insufficient_storage));
  // Space is back, but the stream's writer has not rolled back yet: a write built on
  // the failed one must not be stored.
  (*d)->set_min_free_bytes(0);
  auto built_on = submit("s", "b");
  BOOST_REQUIRE(!built_on.ok());
  BOOST_TEST((built_on.err().code == domain::errc::insufficient_storage));
  BOOST_TEST(built_on.err().message.find("builds on") != std::string::npos);
  // Other streams and independent writes are not held back.
  BOOST_TEST(submit("t", "c").ok());
  BOOST_TEST(submit("", "d").ok());
  q.resume("s");
  BOOST_TEST(submit("s", "e").ok());
  BOOST_TEST(!(*d)->get(column::meta, "a")->has_value());
  BOOST_TEST(!(*d)->get(column::meta, "b")->has_value());
  BOOST_TEST((*d)->get(column::meta, "e")->has_value());
}

BOOST_AUTO_TEST_CASE(a_write_queued_before_a_resume_is_still_refused) {
  testing::temp_dir dir;
  auto d = db::open({dir.path(), false, 0});
  BOOST_REQUIRE(d.ok());
  commit_queue q(**d);
  (*d)->set_min_free_bytes(std::uint64_t{1} << 62);
  std::promise<domain::status> failed;
  write_batch a;
  a.put(column::meta, "a", "v");
  q.submit(
      std::move(a), [&](const domain::status& st) { failed.set_value(st); }, "s");
  BOOST_REQUIRE(!failed.get_future().get().ok());
  (*d)->set_min_free_bytes(0);
  // Submitted while blocked (built on the failure): refused at once, also after resume.
  std::promise<domain::status> stale;
  write_batch b;
  b.put(column::meta, "b", "v");
  q.submit(
      std::move(b), [&](const domain::status& st) { stale.set_value(st); }, "s");
  q.resume("s");
  BOOST_TEST(!stale.get_future().get().ok());
  BOOST_TEST(!(*d)->get(column::meta, "b")->has_value());
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
