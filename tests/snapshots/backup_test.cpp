#include "snapshots/backup.hpp"

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <thread>

#include "snapshots/verify.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/temp_dir.hpp"
#include "tools/workload/event_gen.hpp"

using namespace referrald;
using namespace referrald::snapshots;

BOOST_AUTO_TEST_SUITE(backup_suite)

BOOST_AUTO_TEST_CASE(backups_taken_under_load_are_verified_prefixes_of_the_log) {
  testing::temp_dir dir;
  auto opened = store::db::open({dir.path(), false});
  BOOST_REQUIRE(opened.ok());
  store::db& db = **opened;
  const std::vector<std::string> accounts{"a1", "a2", "a3", "a4"};
  std::atomic<bool> failed{false};
  std::atomic<int> appended{0};  // batches of 5 events, of 240
  std::vector<std::thread> writers;
  for (std::size_t i = 0; i < accounts.size(); ++i) {
    writers.emplace_back([&, i] {
      try {
        workload::event_generator gen{accounts[i], static_cast<unsigned>(i + 1)};
        for (int n = 0; n < 60; ++n) {
          gen.append(db, 5);
          ++appended;
        }
      } catch (const std::exception&) {
        failed = true;
      }
    });
  }
  std::vector<backup_info> taken;
  for (int k = 0; k < 3; ++k) {
    // At a sixth, a third and a half of the writes: each backup while they go on.
    testing::eventually([&] { return appended.load() >= 40 * (k + 1); });
    auto b = create_backup(db);
    BOOST_REQUIRE_MESSAGE(b.ok(), (b.ok() ? "" : b.err().message));
    taken.push_back(*b);
  }
  for (auto& t : writers)
    t.join();
  BOOST_REQUIRE(!failed);

  store::event_log live(db);
  for (const auto& b : taken) {
    auto copy = store::db::open({b.path, true});
    BOOST_REQUIRE_MESSAGE(copy.ok(), (copy.ok() ? "" : copy.err().message));
    auto summary = verify_store(**copy);
    BOOST_REQUIRE(summary.ok());
    BOOST_TEST(!summary->problem.has_value());
    store::event_log log(**copy);
    std::map<std::string, std::uint64_t> heads(b.heads.begin(), b.heads.end());
    for (const auto& account : accounts) {
      auto head = log.head(account);
      BOOST_REQUIRE(head.ok());
      BOOST_TEST(*head == heads[account]);  // the manifest tells the truth
      if (*head == 0) continue;
      // The copy's chain ends on an event of the live chain: a prefix of the log.
      auto mine = log.get(account, *head);
      auto theirs = live.get(account, *head);
      BOOST_REQUIRE(mine.ok() && theirs.ok() && mine->has_value() && theirs->has_value());
      BOOST_TEST(((*mine)->hash == (*theirs)->hash));
    }
  }
  auto listed = list_backups(backups_dir(dir.path()));
  BOOST_REQUIRE(listed.ok());
  BOOST_REQUIRE_EQUAL(listed->size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    BOOST_TEST(listed->at(i).name == taken[i].name);
    BOOST_TEST(listed->at(i).size_bytes > 0u);
  }
}

BOOST_AUTO_TEST_SUITE_END()
