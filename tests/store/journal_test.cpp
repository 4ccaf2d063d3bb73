#include "interfaces/journal.hpp"

#include <boost/test/unit_test.hpp>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "store/commit_queue.hpp"
#include "store/embedded_journal.hpp"
#include "store/event_log.hpp"
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
  std::unique_ptr<journal> j;

  embedded() {
    auto opened = db::open({dir.path(), false, 0});
    BOOST_REQUIRE(opened.ok());
    d = std::move(*opened);
    log = std::make_unique<event_log>(*d);
    commits = std::make_unique<commit_queue>(*d);
    j = make_embedded_journal(*d, *log, *commits);
  }
  ~embedded() { commits->stop(); }
};

domain::status wait_for(const std::function<void(journal::done_fn)>& start) {
  auto p = std::make_shared<std::promise<domain::status>>();
  start([p](const domain::status& s) { p->set_value(s); });
  return p->get_future().get();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(journal_suite)

BOOST_AUTO_TEST_CASE(embedded_appends_read_back_and_are_never_beaten) {
  embedded e;
  BOOST_TEST(!e.j->shared());
  workload::event_generator acme("acme", 1);
  auto first = acme.values(3);
  auto st = wait_for([&](auto done) { e.j->append("acme", 1, first, done); });
  BOOST_REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.err().message));
  auto second = acme.values(2);
  st = wait_for([&](auto done) { e.j->append("acme", 4, second, done); });
  BOOST_REQUIRE(st.ok());
  BOOST_TEST(*e.j->head("acme") == 5u);
  BOOST_TEST(*e.j->head("other") == 0u);
  std::vector<std::uint64_t> seen;
  BOOST_REQUIRE(e.j->replay("acme", 2, [&](const domain::event& ev) {
    seen.push_back(ev.seq);
    return true;
  }));
  BOOST_TEST(seen == (std::vector<std::uint64_t>{2, 3, 4, 5}), boost::test_tools::per_element());
  // One writer: every position is 0, nothing is ever beaten.
  BOOST_TEST(*e.j->position("acme") == 0u);
  BOOST_TEST(!e.j->beaten_at("acme").has_value());
  BOOST_TEST(*e.j->scope_position("keys") == 0u);
  // The chain is the one event_log verifies.
  auto loaded = e.log->load("acme");
  BOOST_REQUIRE(loaded.ok());
  BOOST_TEST(loaded->head_hash() == acme.state().head_hash());
}

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

BOOST_AUTO_TEST_CASE(embedded_records_are_stored_and_claims_read_back) {
  embedded e;
  write_batch keys;
  keys.put(column::meta, "k1", "v1");
  BOOST_TEST(wait_for([&](auto done) { e.j->append_records("keys", keys, 0, done); }).ok());
  BOOST_TEST(**e.d->get(column::meta, "k1") == "v1");

  auto none = e.j->claimed("batch.1.x", column::ai_batches, "b1");
  BOOST_REQUIRE(none.ok());
  BOOST_TEST(!none->value.has_value());
  BOOST_TEST(none->position == 0u);
  write_batch batch;
  batch.put(column::ai_batches, "b1", "record");
  auto p = std::make_shared<std::promise<domain::status>>();
  auto stored = e.j->store("batch.1.x", std::move(batch), none->position,
                           [p](const domain::status& s) { p->set_value(s); });
  BOOST_REQUIRE(stored.ok());  // never beaten: `done` answers
  BOOST_TEST(p->get_future().get().ok());
  auto found = e.j->claimed("batch.1.x", column::ai_batches, "b1");
  BOOST_REQUIRE(found.ok());
  BOOST_TEST(found->value.value_or("") == "record");
}

BOOST_AUTO_TEST_SUITE_END()
