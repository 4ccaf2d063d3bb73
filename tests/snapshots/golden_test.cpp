// Golden files: stores written by each format version (events and a snapshot; v1 by
// release 0.2, objects as API JSON; v2 with tagged objects), committed as text dumps, and
// the state each must replay to. A later change of the event or snapshot encoding that
// cannot read these bytes any more fails here.
//
// To write the files of a new format version (into a new directory, never over an old
// one): REFERRALD_WRITE_GOLDEN=vN build/tests/snapshots/snapshots_tests
//   --run_test=golden_suite/stores_of_every_format_replay_to_their_recorded_state

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "snapshots/recovery.hpp"
#include "snapshots/snapshot_store.hpp"
#include "snapshots/verify.hpp"
#include "tests/support/temp_dir.hpp"
#include "tools/workload/event_gen.hpp"

using namespace referrald;
using namespace referrald::snapshots;

namespace {

const std::vector<std::string> k_accounts = {"acme", "globex-2"};

std::string golden_dir(std::string_view version) {
  return std::string(REFERRALD_GOLDEN_DIR) + "/" + std::string(version);
}

std::string hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::string unhex(std::string_view text) {
  auto nibble = [](char c) {
    return c <= '9' ? c - '0' : c - 'a' + 10;
  };
  std::string out;
  for (std::size_t i = 0; i + 1 < text.size(); i += 2)
    out.push_back(static_cast<char>(nibble(text[i]) * 16 + nibble(text[i + 1])));
  return out;
}

// The account's rules as `referralctl replay` prints them (all rules, inactive too).
std::string replay_line(const domain::account_state& s) {
  return "{\"account_id\":\"" + s.account_id() + "\",\"seq\":" + std::to_string(s.seq()) +
         ",\"passthrough_referrers\":" + domain::list_json<domain::passthrough_referrer>(s, true) +
         ",\"referrer_mappings\":" + domain::list_json<domain::referrer_mapping>(s, true) + "}";
}

void write_golden(const std::string& version) {
  const std::string dir_name = golden_dir(version);
  testing::temp_dir dir;
  auto db = store::db::open({dir.path(), false});
  BOOST_REQUIRE(db.ok());
  std::ofstream expected(dir_name + "/expected.jsonl");
  for (std::size_t i = 0; i < k_accounts.size(); ++i) {
    workload::event_generator gen{k_accounts[i], static_cast<unsigned>(11 + i)};
    gen.append(**db, 30);
    store::write_batch b;
    stop_at stop;
    stop.max_seq = 20;
    auto at20 = load_account(store::event_log(**db), nullptr, k_accounts[i], stop);
    BOOST_REQUIRE(at20.ok());
    BOOST_REQUIRE(snapshot_store(**db).put(b, *at20).ok());
    BOOST_REQUIRE((*db)->write(b, true).ok());
    expected << replay_line(gen.state()) << "\n";
  }
  std::ofstream dump(dir_name + "/store.dump");
  dump << "# referrald store dump, format " << version
       << ": <column family> <key hex> <value hex>\n";
  for (auto cf : {store::column::events, store::column::snapshots}) {
    auto st = (*db)->scan(cf, "", "", [&](std::string_view k, std::string_view v) {
      dump << store::column_name(cf) << ' ' << hex(k) << ' ' << hex(v) << '\n';
      return true;
    });
    BOOST_REQUIRE(st.ok());
  }
}

// Loads the dump of `version` into `db`.
void load_dump(store::db& db, const std::string& version) {
  std::ifstream dump(golden_dir(version) + "/store.dump");
  BOOST_REQUIRE_MESSAGE(dump.good(), "missing " + golden_dir(version) + "/store.dump");
  store::write_batch b;
  std::string line;
  std::size_t records = 0;
  while (std::getline(dump, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string cf, key, value;
    fields >> cf >> key >> value;
    BOOST_REQUIRE(cf == "events" || cf == "snapshots");
    b.put(cf == "events" ? store::column::events : store::column::snapshots, unhex(key),
          unhex(value));
    ++records;
  }
  BOOST_REQUIRE_EQUAL(records, 62u);  // 2 accounts x (30 events + 1 snapshot)
  BOOST_REQUIRE(db.write(b, true).ok());
}

void check_golden(const std::string& version) {
  testing::temp_dir dir;
  auto db = store::db::open({dir.path(), false});
  BOOST_REQUIRE(db.ok());
  load_dump(**db, version);

  auto summary = verify_store(**db);
  BOOST_REQUIRE(summary.ok());
  BOOST_TEST(!summary->problem.has_value());
  BOOST_TEST(summary->events == 60u);
  BOOST_TEST(summary->snapshots == 2u);

  std::ifstream expected(golden_dir(version) + "/expected.jsonl");
  store::event_log log(**db);
  snapshot_store snaps(**db);
  for (const auto& account : k_accounts) {
    std::string want;
    BOOST_REQUIRE(std::getline(expected, want));
    auto from_events = load_account(log, nullptr, account);
    BOOST_REQUIRE_MESSAGE(from_events.ok(), (from_events.ok() ? "" : from_events.err().message));
    BOOST_TEST(replay_line(*from_events) == want);
    load_report r;
    auto from_snapshot = load_account(log, &snaps, account, {}, &r);
    BOOST_REQUIRE(from_snapshot.ok());
    BOOST_TEST(r.snapshot_seq == 20u);
    BOOST_TEST(replay_line(*from_snapshot) == want);
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(golden_suite)

BOOST_AUTO_TEST_CASE(stores_of_every_format_replay_to_their_recorded_state) {
  if (const char* v = std::getenv("REFERRALD_WRITE_GOLDEN"); v != nullptr) write_golden(v);
  check_golden("v1");
  check_golden("v2");
}

BOOST_AUTO_TEST_CASE(a_version_1_store_takes_new_events_and_stays_one_valid_chain) {
  testing::temp_dir dir;
  auto db = store::db::open({dir.path(), false});
  BOOST_REQUIRE(db.ok());
  load_dump(**db, "v1");
  store::event_log log(**db);
  snapshot_store snaps(**db);
  for (const auto& account : k_accounts) {
    auto before = load_account(log, &snaps, account);
    BOOST_REQUIRE(before.ok());
    BOOST_REQUIRE(before->seq() == 30u);
    // New events (format 2) chained onto the format 1 history.
    workload::event_generator gen{*before, 99};
    gen.append(**db, 25);
    BOOST_TEST((gen.events().front().format == domain::object_format::tagged));
    auto after = load_account(log, &snaps, account);
    BOOST_REQUIRE_MESSAGE(after.ok(), (after.ok() ? "" : after.err().message));
    BOOST_TEST(after->seq() == 55u);
    BOOST_TEST(replay_line(*after) == replay_line(gen.state()));
    // Every event of the mixed history reads back, in its format, in the audit view.
    std::size_t rendered = 0;
    auto st = log.replay(account, 1, [&](const domain::event& e) {
      rapidjson::StringBuffer buf;
      domain::json_writer w(buf);
      BOOST_TEST(domain::write_json(w, account, e).ok());
      bool v1 = e.format == domain::object_format::json;
      rendered += (e.seq <= 30) == v1 ? 1 : 0;
      return true;
    });
    BOOST_REQUIRE(st.ok());
    BOOST_TEST(rendered == 55u);
  }
  auto summary = verify_store(**db);
  BOOST_REQUIRE(summary.ok());
  BOOST_TEST(!summary->problem.has_value());
  BOOST_TEST(summary->events == 110u);
}

BOOST_AUTO_TEST_SUITE_END()
