#include "snapshots/recovery.hpp"

#include <boost/test/unit_test.hpp>

#include "domain/base/digest.hpp"
#include "snapshots/snapshot_store.hpp"
#include "tests/support/temp_dir.hpp"
#include "tools/workload/event_gen.hpp"

using namespace referrald;
using namespace referrald::snapshots;

namespace {

std::unique_ptr<store::db> open_db(const std::string& path) {
  auto d = store::db::open({path, false});
  BOOST_REQUIRE_MESSAGE(d.ok(), (d.ok() ? "" : d.err().message));
  return std::move(*d);
}

// The fold of the first `n` events, from the events alone.
domain::account_state fold_until(const store::event_log& log, const std::string& account,
                                 std::uint64_t n) {
  stop_at stop;
  stop.max_seq = n;
  auto s = load_account(log, nullptr, account, stop);
  BOOST_REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.err().message));
  BOOST_REQUIRE_EQUAL(s->seq(), n);
  return std::move(*s);
}

void put_snapshot(store::db& d, const domain::account_state& s) {
  store::write_batch b;
  BOOST_REQUIRE(snapshot_store(d).put(b, s).ok());
  BOOST_REQUIRE(d.write(b, true).ok());
}

// Replaces the stored bytes of a snapshot by `bytes`.
void overwrite_snapshot(store::db& d, const std::string& account, std::uint64_t seq,
                        const std::string& bytes) {
  store::write_batch b;
  b.put(store::column::snapshots, encode_snapshot_key(account, seq), bytes);
  BOOST_REQUIRE(d.write(b, true).ok());
}

struct fixture {
  testing::temp_dir dir;
  std::unique_ptr<store::db> db = open_db(dir.path());
  store::event_log log{*db};
  snapshot_store snaps{*db};
  workload::event_generator gen{"acme", 7};

  fixture() { gen.append(*db, 250); }

  domain::account_state load(load_report& report, const stop_at& stop = {}) {
    auto s = load_account(log, &snaps, "acme", stop, &report);
    BOOST_REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.err().message));
    return std::move(*s);
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(recovery_matrix)

BOOST_FIXTURE_TEST_CASE(from_events_only, fixture) {
  load_report r;
  auto s = load(r);
  BOOST_TEST((s == gen.state()));
  BOOST_TEST(r.snapshot_seq == 0u);
  BOOST_TEST(r.events_replayed == 250u);
  BOOST_TEST(s.referrers().size() + s.mappings().size() > 0u);
}

BOOST_FIXTURE_TEST_CASE(from_a_snapshot_only, fixture) {
  put_snapshot(*db, fold_until(log, "acme", 250));
  load_report r;
  auto s = load(r);
  BOOST_TEST((s == gen.state()));
  BOOST_TEST(r.snapshot_seq == 250u);
  BOOST_TEST(r.events_replayed == 0u);
}

BOOST_FIXTURE_TEST_CASE(from_a_snapshot_and_the_tail, fixture) {
  put_snapshot(*db, fold_until(log, "acme", 200));
  load_report r;
  auto s = load(r);
  BOOST_TEST((s == gen.state()));
  BOOST_TEST(r.snapshot_seq == 200u);
  BOOST_TEST(r.events_replayed == 50u);
  // The rebuilt state answers like the folded one, indexes included.
  s.refresh_indexes();
  auto folded = gen.state();
  folded.refresh_indexes();
  BOOST_TEST(domain::list_json<domain::referrer_mapping>(s, true) ==
             domain::list_json<domain::referrer_mapping>(folded, true));
}

// An event altered in place, with its CRC recomputed but not its hash.
void alter_event(store::db& d, const std::string& account, std::uint64_t seq) {
  auto v = d.get(store::column::events, store::encode_event_key(account, seq));
  BOOST_REQUIRE(v.ok() && v->has_value());
  std::string bytes = **v;
  bytes[20] ^= 0x01;  // inside the entity id
  std::string body = bytes.substr(0, bytes.size() - 4);
  std::uint32_t crc = domain::crc32c(body);
  for (int i = 0; i < 4; ++i)
    bytes[body.size() + static_cast<std::size_t>(i)] = static_cast<char>((crc >> (8 * i)) & 0xFF);
  store::write_batch b;
  b.put(store::column::events, store::encode_event_key(account, seq), bytes);
  BOOST_REQUIRE(d.write(b, true).ok());
}

BOOST_FIXTURE_TEST_CASE(an_altered_event_in_the_tail_fails_the_load_as_corrupt, fixture) {
  put_snapshot(*db, fold_until(log, "acme", 200));
  alter_event(*db, "acme", 230);
  auto s = load_account(log, &snaps, "acme");
  BOOST_REQUIRE(!s.ok());
  BOOST_TEST((s.err().code == domain::errc::store_corrupted));
  BOOST_TEST(s.err().message.find("event 230") != std::string::npos, s.err().message);
}

BOOST_FIXTURE_TEST_CASE(an_altered_event_under_the_snapshot_fails_the_load_as_corrupt, fixture) {
  put_snapshot(*db, fold_until(log, "acme", 200));
  alter_event(*db, "acme", 200);  // the event the snapshot names
  auto s = load_account(log, &snaps, "acme");
  BOOST_REQUIRE(!s.ok());
  BOOST_TEST((s.err().code == domain::errc::store_corrupted));
  BOOST_TEST(s.err().message.find("event 200") != std::string::npos, s.err().message);
}

BOOST_FIXTURE_TEST_CASE(from_the_latest_of_several_snapshots, fixture) {
  for (std::uint64_t seq : {50u, 120u, 200u})
    put_snapshot(*db, fold_until(log, "acme", seq));
  load_report r;
  auto s = load(r);
  BOOST_TEST((s == gen.state()));
  BOOST_TEST(r.snapshot_seq == 200u);
  BOOST_TEST(r.events_replayed == 50u);
}

BOOST_FIXTURE_TEST_CASE(a_corrupt_snapshot_falls_back_to_an_older_one, fixture) {
  for (std::uint64_t seq : {120u, 200u})
    put_snapshot(*db, fold_until(log, "acme", seq));
  auto bytes = snaps.read("acme", 200);
  BOOST_REQUIRE(bytes.ok() && bytes->has_value());
  std::string damaged = **bytes;
  damaged[damaged.size() / 2] ^= 0x20;
  overwrite_snapshot(*db, "acme", 200, damaged);
  load_report r;
  auto s = load(r);
  BOOST_TEST((s == gen.state()));
  BOOST_TEST(r.snapshot_seq == 120u);
  BOOST_TEST(r.events_replayed == 130u);
  BOOST_REQUIRE_EQUAL(r.skipped.size(), 1u);
  BOOST_TEST(r.skipped[0].find("checksum") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(corrupt_snapshots_everywhere_fall_back_to_the_full_log, fixture) {
  put_snapshot(*db, fold_until(log, "acme", 100));
  overwrite_snapshot(*db, "acme", 100, "not a snapshot");
  load_report r;
  auto s = load(r);
  BOOST_TEST((s == gen.state()));
  BOOST_TEST(r.snapshot_seq == 0u);
  BOOST_TEST(r.events_replayed == 250u);
  BOOST_TEST(r.skipped.size() == 1u);
}

BOOST_FIXTURE_TEST_CASE(a_snapshot_of_another_history_is_not_used, fixture) {
  // A well-formed snapshot whose head hash is not the log's event 150: e.g. one restored
  // from another store. It must not be trusted.
  testing::temp_dir other_dir;
  auto other = open_db(other_dir.path());
  workload::event_generator other_gen{"acme", 99};
  other_gen.append(*other, 150);
  store::event_log other_log(*other);
  put_snapshot(*db, fold_until(other_log, "acme", 150));
  load_report r;
  auto s = load(r);
  BOOST_TEST((s == gen.state()));
  BOOST_TEST(r.snapshot_seq == 0u);
  BOOST_REQUIRE_EQUAL(r.skipped.size(), 1u);
  BOOST_TEST(r.skipped[0].find("head hash") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(only_the_newest_snapshots_are_kept, fixture) {
  for (std::uint64_t seq : {40u, 80u, 120u, 160u, 200u})
    put_snapshot(*db, fold_until(log, "acme", seq));
  auto list = snaps.list("acme");
  BOOST_REQUIRE(list.ok());
  std::vector<std::uint64_t> seqs;
  for (const auto& i : *list) {
    seqs.push_back(i.seq);
    BOOST_TEST(i.readable);
  }
  std::vector<std::uint64_t> want{120, 160, 200};
  BOOST_TEST(seqs == want, boost::test_tools::per_element());
}

BOOST_FIXTURE_TEST_CASE(time_travel_folds_every_event_up_to_the_instant, fixture) {
  put_snapshot(*db, fold_until(log, "acme", 100));
  put_snapshot(*db, fold_until(log, "acme", 240));
  const auto& events = gen.events();
  for (std::size_t cut : {0ul, 1ul, 57ul, 100ul, 101ul, 180ul, 249ul}) {
    domain::unix_ms t = events[cut].timestamp;
    // The expected state: every event with a timestamp <= t.
    std::uint64_t last = 0;
    for (const auto& e : events)
      if (e.timestamp <= t) last = e.seq;
    stop_at stop;
    stop.max_time = t;
    load_report r;
    auto s = load(r, stop);
    BOOST_TEST(s.seq() == last);
    BOOST_TEST((s == fold_until(log, "acme", last)));
    BOOST_TEST(r.snapshot_seq <= last);
  }
  stop_at before;
  before.max_time = events.front().timestamp - 1;
  load_report r;
  BOOST_TEST(load(r, before).seq() == 0u);
}

BOOST_AUTO_TEST_CASE(snapshot_plus_tail_equals_the_full_fold_at_every_cut) {
  // Property: for random event sequences, and every cut point c, decoding a snapshot of
  // the fold of events 1..c and applying events c+1..N gives the fold of all N.
  for (unsigned seed = 1; seed <= 6; ++seed) {
    testing::temp_dir dir;
    auto db = open_db(dir.path());
    workload::event_generator gen{"acct-" + std::to_string(seed), seed};
    if (seed % 2 == 0) gen.every_kind();  // channel rules and settings in the snapshots
    gen.append(*db, 60 + static_cast<int>(seed) * 15);
    const auto& events = gen.events();
    domain::account_state prefix{"acct-" + std::to_string(seed)};
    for (std::size_t c = 0; c <= events.size(); ++c) {
      if (c > 0) BOOST_REQUIRE(prefix.apply(events[c - 1]).ok());
      if (c == 0) continue;  // no snapshot of an empty state is ever written
      auto decoded = decode_snapshot(prefix.account_id(), prefix.seq(), encode_snapshot(prefix));
      BOOST_REQUIRE_MESSAGE(decoded.ok(), (decoded.ok() ? "" : decoded.err().message));
      BOOST_REQUIRE((*decoded == prefix));
      domain::account_state s = std::move(*decoded);
      for (std::size_t i = c; i < events.size(); ++i)
        BOOST_REQUIRE(s.apply(events[i]).ok());
      BOOST_REQUIRE_MESSAGE((s == gen.state()), "seed " << seed << " cut " << c);
    }
    // And through the store, at a few cuts.
    store::event_log log(*db);
    snapshot_store snaps(*db);
    for (std::uint64_t c : {1ul, events.size() / 3, events.size() - 1}) {
      put_snapshot(*db, fold_until(log, gen.state().account_id(), c));
      load_report r;
      auto s = load_account(log, &snaps, gen.state().account_id(), {}, &r);
      BOOST_REQUIRE(s.ok());
      BOOST_TEST(r.snapshot_seq == c);
      BOOST_TEST((*s == gen.state()));
    }
  }
}

BOOST_AUTO_TEST_CASE(a_snapshot_without_channel_rules_or_settings_is_laid_out_as_before) {
  // Release 0.3 wrote two kinds; a state without the later ones is written the same way,
  // and a state with them adds them at the end.
  workload::event_generator plain{"plain", 3};
  for (int i = 0; i < 40; ++i)
    plain.values(1);
  std::string bytes = encode_snapshot(plain.state());
  workload::event_generator every{"every", 4};
  every.every_kind();
  every.values(120);
  BOOST_REQUIRE(every.state().entities<domain::channel_rule>().next_id() > 1);
  BOOST_REQUIRE(every.state().settings() != nullptr);
  std::string longer = encode_snapshot(every.state());
  auto decoded = decode_snapshot("every", every.state().seq(), longer);
  BOOST_REQUIRE_MESSAGE(decoded.ok(), (decoded.ok() ? "" : decoded.err().message));
  BOOST_TEST((*decoded == every.state()));
  // The plain one: version 2, both kinds, the CRC; nothing after the mappings.
  auto back = decode_snapshot("plain", plain.state().seq(), bytes);
  BOOST_REQUIRE(back.ok());
  BOOST_TEST(back->entities<domain::channel_rule>().next_id() == 1);
  BOOST_TEST(back->settings() == nullptr);
  BOOST_TEST(static_cast<int>(bytes[0]) == 2);
}

BOOST_AUTO_TEST_CASE(snapshots_are_due_every_n_events_or_every_half_of_the_state) {
  // Small accounts: every --snapshot-every events.
  BOOST_TEST(!snapshot_due(999, 10, 1000));
  BOOST_TEST(snapshot_due(1000, 10, 1000));
  BOOST_TEST(snapshot_due(4, 8, 4));
  BOOST_TEST(!snapshot_due(4, 10, 4));
  // Large ones: a snapshot costs O(rules), so not before rules/2 events.
  BOOST_TEST(snapshot_due(1000, 2'000, 1000));
  BOOST_TEST(!snapshot_due(1000, 2'002, 1000));
  BOOST_TEST(!snapshot_due(1000, 80'000, 1000));
  BOOST_TEST(!snapshot_due(39'999, 80'000, 1000));
  BOOST_TEST(snapshot_due(40'000, 80'000, 1000));
  // 0: never.
  BOOST_TEST(!snapshot_due(1'000'000, 10, 0));
}

BOOST_AUTO_TEST_CASE(a_snapshot_is_bound_to_its_account_and_seq) {
  testing::temp_dir dir;
  auto db = open_db(dir.path());
  workload::event_generator gen{"acme", 3};
  gen.append(*db, 20);
  std::string bytes = encode_snapshot(gen.state());
  BOOST_TEST(decode_snapshot("acme", 20, bytes).ok());
  BOOST_TEST(!decode_snapshot("acme", 19, bytes).ok());
  BOOST_TEST(!decode_snapshot("other", 20, bytes).ok());
  BOOST_TEST(!decode_snapshot("acme", 20, bytes.substr(0, bytes.size() - 1)).ok());
}

BOOST_AUTO_TEST_SUITE_END()
