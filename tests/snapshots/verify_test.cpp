#include "snapshots/verify.hpp"

#include <boost/test/unit_test.hpp>

#include "snapshots/recovery.hpp"
#include "snapshots/snapshot_store.hpp"
#include "tests/support/temp_dir.hpp"
#include "tools/workload/event_gen.hpp"

using namespace referrald;
using namespace referrald::snapshots;

namespace {

struct fixture {
  testing::temp_dir dir;
  std::unique_ptr<store::db> db;

  fixture() {
    auto d = store::db::open({dir.path(), false});
    BOOST_REQUIRE(d.ok());
    db = std::move(*d);
    for (const char* account : {"alpha", "beta", "gamma"}) {
      workload::event_generator gen{account, static_cast<unsigned>(account[0])};
      gen.append(*db, 40);
    }
    // A snapshot of beta at 30.
    store::event_log log(*db);
    stop_at stop;
    stop.max_seq = 30;
    auto s = load_account(log, nullptr, "beta", stop);
    BOOST_REQUIRE(s.ok());
    store::write_batch b;
    BOOST_REQUIRE(snapshot_store(*db).put(b, *s).ok());
    BOOST_REQUIRE(db->write(b, true).ok());
  }

  std::string event_bytes(const std::string& account, std::uint64_t seq) {
    auto v = db->get(store::column::events, store::encode_event_key(account, seq));
    BOOST_REQUIRE(v.ok() && v->has_value());
    return **v;
  }
  void put_event_bytes(const std::string& account, std::uint64_t seq, const std::string& bytes) {
    store::write_batch b;
    b.put(store::column::events, store::encode_event_key(account, seq), bytes);
    BOOST_REQUIRE(db->write(b, true).ok());
  }

  verify_problem expect_problem() {
    auto summary = verify_store(*db);
    BOOST_REQUIRE(summary.ok());
    BOOST_REQUIRE_MESSAGE(summary->problem.has_value(), "verify found nothing wrong");
    return *summary->problem;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(verify_suite)

BOOST_FIXTURE_TEST_CASE(a_clean_store_verifies, fixture) {
  auto summary = verify_store(*db);
  BOOST_REQUIRE(summary.ok());
  BOOST_TEST(!summary->problem.has_value());
  BOOST_TEST(summary->accounts == 3u);
  BOOST_TEST(summary->events == 120u);
  BOOST_TEST(summary->snapshots == 1u);
}

BOOST_FIXTURE_TEST_CASE(a_flipped_byte_is_found, fixture) {
  // Every byte position of one event, flipped one at a time, is caught at that event.
  std::string original = event_bytes("beta", 17);
  for (std::size_t i = 0; i < original.size(); i += 7) {
    std::string damaged = original;
    damaged[i] ^= 0x01;
    put_event_bytes("beta", 17, damaged);
    auto p = expect_problem();
    BOOST_TEST(p.account_id == "beta");
    BOOST_TEST(p.seq == 17u);
    BOOST_TEST(!p.in_snapshot);
  }
}

BOOST_FIXTURE_TEST_CASE(a_deleted_event_is_found, fixture) {
  store::write_batch b;
  b.erase(store::column::events, store::encode_event_key("gamma", 12));
  BOOST_REQUIRE(db->write(b, true).ok());
  auto p = expect_problem();
  BOOST_TEST(p.account_id == "gamma");
  BOOST_TEST(p.seq == 12u);
  BOOST_TEST(p.what.find("missing") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(two_swapped_events_are_found, fixture) {
  std::string a = event_bytes("alpha", 5);
  std::string b = event_bytes("alpha", 6);
  put_event_bytes("alpha", 5, b);
  put_event_bytes("alpha", 6, a);
  auto p = expect_problem();
  BOOST_TEST(p.account_id == "alpha");
  BOOST_TEST(p.seq == 5u);
}

BOOST_FIXTURE_TEST_CASE(an_event_rewritten_with_a_valid_checksum_is_found, fixture) {
  // A forger who recomputes the CRC (but cannot recompute the chain without rewriting
  // every later event) is caught by the hash.
  store::event_log log(*db);
  auto e = log.get("alpha", 9);
  BOOST_REQUIRE(e.ok() && e->has_value());
  domain::event forged = **e;
  forged.key_id = 999;
  domain::sha256_digest kept_hash = forged.hash;
  std::string bytes = store::encode_event_value("alpha", forged);  // a fresh hash and CRC
  BOOST_REQUIRE(forged.hash != kept_hash);
  put_event_bytes("alpha", 9, bytes);
  auto p = expect_problem();
  BOOST_TEST(p.account_id == "alpha");
  BOOST_TEST(p.seq == 10u);  // event 10 no longer chains to 9
}

BOOST_FIXTURE_TEST_CASE(a_damaged_snapshot_is_found, fixture) {
  auto bytes = snapshot_store(*db).read("beta", 30);
  BOOST_REQUIRE(bytes.ok() && bytes->has_value());
  std::string damaged = **bytes;
  damaged[10] ^= 0x40;
  store::write_batch b;
  b.put(store::column::snapshots, encode_snapshot_key("beta", 30), damaged);
  BOOST_REQUIRE(db->write(b, true).ok());
  auto p = expect_problem();
  BOOST_TEST(p.account_id == "beta");
  BOOST_TEST(p.seq == 30u);
  BOOST_TEST(p.in_snapshot);
}

BOOST_AUTO_TEST_SUITE_END()
