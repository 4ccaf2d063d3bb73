#pragma once

// The contract of a journal (interfaces/journal.hpp), one suite every implementation passes:
// REFERRALD_JOURNAL_SUITE(name, harness) declares it as a Boost.Test suite for `harness`, a
// fixture with
//
//   interfaces::journal& journal();   // the journal of the node under test
//   interfaces::journal* other();     // another writer's journal on the same history (another
//                                     // node), or null where the journal has one writer
//   void settle();                    // returns once every node has applied what was stored
//   void restart();                   // the node's journal made again over the same storage
//
// A journal implementation is done when it passes the suite.

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "interfaces/journal.hpp"
#include "store/ai_store.hpp"
#include "tests/interfaces/unique_name.hpp"
#include "tools/workload/event_gen.hpp"

namespace referrald::testing::journal_suite {

using interfaces::journal;

inline domain::status wait_for(const std::function<void(journal::done_fn)>& start) {
  auto p = std::make_shared<std::promise<domain::status>>();
  start([p](const domain::status& s) { p->set_value(s); });
  auto f = p->get_future();
  BOOST_REQUIRE(f.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  return f.get();
}

// A writer starts writing an account at the position it has applied (a shared journal
// refuses an account's appends until then).
inline void begin_writing(journal& j, const std::string& account) {
  auto at = j.position(account);
  BOOST_REQUIRE_MESSAGE(at.ok(), (at.ok() ? "" : at.err().message));
  j.resume(account, *at);
}

// Appends the generator's next `n` events to its account.
inline domain::status append_next(journal& j, workload::event_generator& gen, int n) {
  const auto& account = gen.state().account_id();
  auto first = gen.state().seq() + 1;
  auto values = gen.values(n);
  return wait_for([&](auto done) { j.append(account, first, values, done); });
}

// A batch record (store/ai_store.hpp) answering `response`: a record as a node writes it,
// which every journal's readers read back.
inline std::string batch_value(const std::string& response) {
  store::batch_record r;
  r.response = response;
  return store::encode_batch_record(r);
}

inline std::vector<std::uint64_t> replayed(const journal& j, const std::string& account,
                                           std::uint64_t from) {
  std::vector<std::uint64_t> seen;
  auto st = j.replay(account, from, [&](const domain::event& ev) {
    seen.push_back(ev.seq);
    return true;
  });
  BOOST_REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.err().message));
  return seen;
}

}  // namespace referrald::testing::journal_suite

#define REFERRALD_JOURNAL_SUITE(suite_name, harness)                                             \
  BOOST_FIXTURE_TEST_SUITE(suite_name, harness)                                                  \
                                                                                                 \
  BOOST_AUTO_TEST_CASE(appends_read_back_in_order_from_any_position) {                           \
    using namespace referrald::testing::journal_suite;                                           \
    auto account = referrald::testing::unique_name("acme");                                      \
    referrald::workload::event_generator acme(account, 1);                                       \
    begin_writing(journal(), account);                                                           \
    auto st = append_next(journal(), acme, 3);                                                   \
    BOOST_REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.err().message));                           \
    st = append_next(journal(), acme, 2);                                                        \
    BOOST_REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.err().message));                           \
    settle();                                                                                    \
    BOOST_TEST(*journal().head(account) == 5u);                                                  \
    BOOST_TEST(*journal().head(referrald::testing::unique_name("other")) == 0u);                 \
    BOOST_TEST(replayed(journal(), account, 2) == (std::vector<std::uint64_t>{2, 3, 4, 5}),      \
               boost::test_tools::per_element());                                                \
    BOOST_TEST(replayed(journal(), account, 6).empty());                                         \
    BOOST_TEST(!journal().beaten_at(account).has_value());                                       \
  }                                                                                              \
                                                                                                 \
  BOOST_AUTO_TEST_CASE(a_write_on_a_position_another_took_is_beaten_and_made_again_after_it) {   \
    using namespace referrald::testing::journal_suite;                                           \
    auto account = referrald::testing::unique_name("contested");                                 \
    referrald::workload::event_generator mine(account, 2);                                       \
    if (other() == nullptr) {                                                                    \
      /* one writer: nothing is ever beaten, and every position is 0 */                          \
      BOOST_TEST(!journal().shared());                                                           \
      begin_writing(journal(), account);                                                         \
      BOOST_TEST(append_next(journal(), mine, 1).ok());                                          \
      BOOST_TEST(*journal().position(account) == 0u);                                            \
      BOOST_TEST(!journal().beaten_at(account).has_value());                                     \
      return;                                                                                    \
    }                                                                                            \
    BOOST_TEST(journal().shared());                                                              \
    auto before = *journal().position(account);                                                  \
    begin_writing(journal(), account);                                                           \
    begin_writing(*other(), account);                                                            \
    BOOST_REQUIRE(append_next(*other(), mine, 1).ok());                                          \
    /* this node's first write of the account, decided before it saw the other's */              \
    referrald::workload::event_generator theirs(account, 3);                                     \
    auto lost = append_next(journal(), theirs, 1);                                               \
    BOOST_REQUIRE(!lost.ok());                                                                   \
    BOOST_TEST((lost.err().code == referrald::domain::errc::beaten));                            \
    BOOST_TEST(journal().beaten_at(account).has_value());                                        \
    /* the writer applies what came first, and writes on it */                                   \
    settle();                                                                                    \
    auto now = *journal().position(account);                                                     \
    BOOST_TEST(now > before);                                                                    \
    journal().resume(account, now);                                                              \
    BOOST_TEST(!journal().beaten_at(account).has_value());                                       \
    auto st = append_next(journal(), mine, 1);                                                   \
    BOOST_REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.err().message));                           \
    settle();                                                                                    \
    BOOST_TEST(*journal().head(account) == 2u);                                                  \
    BOOST_TEST(*other()->head(account) == 2u);                                                   \
  }                                                                                              \
                                                                                                 \
  BOOST_AUTO_TEST_CASE(records_are_fenced_on_their_scope_and_claims_read_back) {                 \
    using namespace referrald::testing::journal_suite;                                           \
    using referrald::store::column;                                                              \
    auto scope = referrald::testing::unique_name("keys");                                        \
    auto key = referrald::testing::unique_name("k1");                                            \
    referrald::store::write_batch first;                                                         \
    first.put(column::ai_batches, key, batch_value("v1"));                                       \
    auto at = *journal().scope_position(scope);                                                  \
    BOOST_TEST(                                                                                  \
        wait_for([&](auto done) { journal().append_records(scope, first, at, done); }).ok());    \
    /* read back by the writer once done */                                                      \
    auto moved = *journal().scope_position(scope);                                               \
    BOOST_TEST((moved > at || !journal().shared()));                                             \
    if (other() != nullptr) {                                                                    \
      referrald::store::write_batch stale;                                                       \
      stale.put(column::ai_batches, key, batch_value("v2"));                                     \
      auto st = wait_for([&](auto done) { other()->append_records(scope, stale, at, done); });   \
      BOOST_REQUIRE(!st.ok());                                                                   \
      BOOST_TEST((st.err().code == referrald::domain::errc::beaten));                            \
    }                                                                                            \
    auto batch_scope = referrald::testing::unique_name("batch.1.x");                             \
    auto none = journal().claimed(batch_scope, column::ai_batches, "b1");                        \
    BOOST_REQUIRE(none.ok());                                                                    \
    BOOST_TEST(!none->value.has_value());                                                        \
    referrald::store::write_batch batch;                                                         \
    batch.put(column::ai_batches, "b1", batch_value("record"));                                  \
    auto p = std::make_shared<std::promise<referrald::domain::status>>();                        \
    auto stored = journal().store(batch_scope, batch, none->position,                            \
                                  [p](const referrald::domain::status& s) { p->set_value(s); }); \
    BOOST_REQUIRE(stored.ok());                                                                  \
    BOOST_TEST(p->get_future().get().ok());                                                      \
    auto found = journal().claimed(batch_scope, column::ai_batches, "b1");                       \
    BOOST_REQUIRE(found.ok());                                                                   \
    BOOST_TEST(found->value.value_or("") == batch_value("record"));                              \
    if (other() != nullptr) {                                                                    \
      /* replacing what the scope held, claiming the position it had before: beaten */           \
      auto again = other()->store(batch_scope, batch, none->position, [](const auto&) {});       \
      BOOST_TEST(!again.ok());                                                                   \
      if (!again.ok()) BOOST_TEST((again.err().code == referrald::domain::errc::beaten));        \
    }                                                                                            \
  }                                                                                              \
                                                                                                 \
  BOOST_AUTO_TEST_CASE(what_was_appended_survives_a_restart) {                                   \
    using namespace referrald::testing::journal_suite;                                           \
    auto account = referrald::testing::unique_name("kept");                                      \
    referrald::workload::event_generator kept(account, 4);                                       \
    begin_writing(journal(), account);                                                           \
    BOOST_REQUIRE(append_next(journal(), kept, 4).ok());                                         \
    settle();                                                                                    \
    restart();                                                                                   \
    settle();                                                                                    \
    BOOST_TEST(*journal().head(account) == 4u);                                                  \
    BOOST_TEST(replayed(journal(), account, 1).size() == 4u);                                    \
    /* and the history goes on where it stood */                                                 \
    journal().resume(account, *journal().position(account));                                     \
    BOOST_TEST(append_next(journal(), kept, 1).ok());                                            \
    settle();                                                                                    \
    BOOST_TEST(*journal().head(account) == 5u);                                                  \
  }                                                                                              \
                                                                                                 \
  BOOST_AUTO_TEST_SUITE_END()
