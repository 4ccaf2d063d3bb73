// The embedded journal (store/embedded_journal.hpp) against the journal's contract
// (tests/interfaces/journal_suite.hpp), and what only a single node's journal does.

#include "interfaces/journal.hpp"

#include <boost/test/unit_test.hpp>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "store/commit_queue.hpp"
#include "store/embedded_journal.hpp"
#include "store/event_log.hpp"
#include "tests/interfaces/journal_suite.hpp"
#include "tests/support/temp_dir.hpp"
#include "tools/workload/event_gen.hpp"

using namespace referrald;
using namespace referrald::store;
using referrald::interfaces::journal;

namespace {

// The embedded journal over a fresh store, with what it writes through.
struct embedded {
  testing::temp_dir dir;
  std::unique_ptr<db> d;
  std::unique_ptr<event_log> log;
  std::unique_ptr<commit_queue> commits;
  std::unique_ptr<interfaces::journal> j;

  embedded() { open(); }
  ~embedded() { commits->stop(); }

  void open() {
    auto opened = db::open({dir.path(), false, 0});
    BOOST_REQUIRE(opened.ok());
    d = std::move(*opened);
    log = std::make_unique<event_log>(*d);
    commits = std::make_unique<commit_queue>(*d);
    j = make_embedded_journal(*d, *log, *commits);
  }

  // The harness of the journal's conformance suite.
  interfaces::journal& journal() { return *j; }
  interfaces::journal* other() { return nullptr; }  // one writer
  void settle() {}                                  // what is acknowledged is applied
  void restart() {
    j.reset();
    commits->stop();
    commits.reset();
    log.reset();
    d.reset();
    open();
  }
};

using testing::journal_suite::wait_for;

}  // namespace

REFERRALD_JOURNAL_SUITE(embedded_journal_contract, embedded)

BOOST_AUTO_TEST_SUITE(embedded_journal)

BOOST_AUTO_TEST_CASE(embedded_failed_append_holds_the_account_until_resumed) {
  embedded e;
  workload::event_generator acme("acme", 2);
  auto values = acme.values(1);
  e.d->set_min_free_bytes(std::uint64_t{1} << 62);  // the disk is "full"
  auto st = wait_for([&](auto done) { e.j->append("acme", 1, values, done); });
  BOOST_REQUIRE(!st.ok());
  BOOST_TEST((st.err().code == domain::errc::insufficient_storage));
  e.d->set_min_free_bytes(0);
  // Built on the failed write: refused until the writer rolled back and resumed.
  auto built_on = acme.values(1);
  st = wait_for([&](auto done) { e.j->append("acme", 2, built_on, done); });
  BOOST_TEST(!st.ok());
  // Another account is not held back.
  auto other = workload::event_generator("other", 3).values(1);
  BOOST_TEST(wait_for([&](auto done) { e.j->append("other", 1, other, done); }).ok());
  e.j->resume("acme", *e.j->position("acme"));
  // The writer rolled back to what is durable (nothing) and writes again.
  auto again = workload::event_generator("acme", 4).values(1);
  BOOST_TEST(wait_for([&](auto done) { e.j->append("acme", 1, again, done); }).ok());
  BOOST_TEST(*e.j->head("acme") == 1u);
  // Resuming an account that never wrote changes nothing.
  e.j->resume("never", 0);
  BOOST_TEST(*e.j->head("never") == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
