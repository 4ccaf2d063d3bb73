// Tamper evidence while the server runs: damage in the part of an account's history that
// loading reads makes the account answer 500 store_corrupted (not 503, which would be
// retried forever); damage before its newest snapshot is found by the background chain
// verifier, after which the account refuses writes. Both name the account and the event.

#include <rocksdb/db.h>
#include <rocksdb/metadata.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <fstream>
#include <thread>
#include <vector>

#include "store/db.hpp"
#include "store/db_internal.hpp"
#include "store/event_log.hpp"
#include "tests/http/fixture.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/process.hpp"

using namespace referrald;
using namespace referrald::testing;

namespace {

// Rewrites event `seq` of `account` with another key id, a fresh hash and a valid CRC: a
// forger's edit that only the hash chain reveals.
void forge_event(const std::string& data, const std::string& account, std::uint64_t seq) {
  auto db = store::db::open({data, false, 0});
  BOOST_REQUIRE(db.ok());
  store::event_log log(**db);
  auto e = log.get(account, seq);
  BOOST_REQUIRE(e.ok() && e->has_value());
  domain::event forged = **e;
  forged.key_id = 999;
  std::string bytes = store::encode_event_value(account, forged);
  store::write_batch b;
  b.put(store::column::events, store::encode_event_key(account, seq), bytes);
  BOOST_REQUIRE((*db)->write(b, true).ok());
}

std::string rule(int i) {
  return R"({"domain":"d)" + std::to_string(i) + R"(.example.com","utm_source":"s"})";
}

// Flushes `account`'s events into a table file and flips bytes inside its first data block,
// as a failing disk would: RocksDB's block checksum no longer matches.
void garble_events_on_disk(const std::string& data) {
  auto db = store::db::open({data, false, 0});
  BOOST_REQUIRE(db.ok());
  auto& rocks = *(*db)->internals().rdb;
  auto* events = (*db)->internals().cf(store::column::events);
  BOOST_REQUIRE(rocks.Flush(rocksdb::FlushOptions(), events).ok());
  std::vector<rocksdb::LiveFileMetaData> files;
  rocks.GetLiveFilesMetaData(&files);
  std::string table;
  for (const auto& f : files) {
    if (f.column_family_name == "events") table = f.db_path + f.name;
  }
  BOOST_REQUIRE(!table.empty());
  db->reset();
  std::fstream file(table, std::ios::in | std::ios::out | std::ios::binary);
  BOOST_REQUIRE(file);
  for (std::streamoff at : {40, 41, 42, 43}) {
    file.seekg(at);
    char c = 0;
    file.get(c);
    file.seekp(at);
    file.put(static_cast<char>(c ^ 0x5A));
  }
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(tamper, server_fixture)

BOOST_AUTO_TEST_CASE(damage_in_the_tail_makes_the_account_answer_store_corrupted_not_503) {
  server->stop(SIGTERM);
  start({"--snapshot-every", "5", "--verify-every", "0"});
  auto c = client();
  for (int i = 1; i <= 12; ++i)
    BOOST_REQUIRE(c->post("/passthrough-referrers?account_id=acme", rule(i)).status == 201u);
  server->stop(SIGTERM);
  forge_event(dir.sub("data"), "acme", 11);  // after the newest snapshot (10)
  start({"--snapshot-every", "5", "--verify-every", "0"});
  c = client();
  auto r = c->get("/passthrough-referrers?account_id=acme");
  BOOST_TEST(r.status == 500u, r.body);
  BOOST_TEST(error_code(r) == "store_corrupted");
  BOOST_TEST(r.body.find("account acme") != std::string::npos, r.body);
  BOOST_TEST(r.body.find("event 12") != std::string::npos, r.body);  // 12 no longer chains to 11
  BOOST_TEST(r.header("retry-after").empty());
  BOOST_TEST(c->post("/passthrough-referrers?account_id=acme", rule(13)).status == 500u);
  // Other accounts are not affected.
  BOOST_TEST(c->post("/passthrough-referrers?account_id=beta", rule(1)).status == 201u);
}

BOOST_AUTO_TEST_CASE(damage_before_the_newest_snapshot_is_found_in_the_background) {
  server->stop(SIGTERM);
  start({"--snapshot-every", "5", "--verify-every", "0"});
  auto c = client();
  for (int i = 1; i <= 12; ++i)
    BOOST_REQUIRE(c->post("/passthrough-referrers?account_id=acme", rule(i)).status == 201u);
  server->stop(SIGTERM);
  forge_event(dir.sub("data"), "acme", 3);  // before the newest snapshot (10)
  start({"--snapshot-every", "5", "--verify-every", "1s"});
  c = client();
  // Loading reads the snapshot and the tail only: the account serves at first...
  auto listed = c->get("/passthrough-referrers?account_id=acme");
  BOOST_TEST(listed.status == 200u, listed.body);
  // ...until the verifier has walked its whole chain.
  http_client anon(server->port());
  std::string metrics;
  eventually(
      [&] {
        metrics = anon.get("/metrics").body;
        return metrics.find("referrald_chain_broken_accounts 1") != std::string::npos;
      },
      std::chrono::seconds(10), std::chrono::milliseconds(100));
  BOOST_TEST(metrics.find("referrald_chain_broken_accounts 1") != std::string::npos);
  BOOST_TEST(metrics.find("referrald_chain_verified_total 0") == std::string::npos);
  auto refused = c->post("/passthrough-referrers?account_id=acme", rule(13));
  BOOST_TEST(refused.status == 500u, refused.body);
  BOOST_TEST(error_code(refused) == "store_corrupted");
  BOOST_TEST(refused.body.find("account acme") != std::string::npos, refused.body);
  BOOST_TEST(refused.body.find("event 4") != std::string::npos, refused.body);
  BOOST_TEST(c->del("/passthrough-referrers/1?account_id=acme").status == 500u);
  // Reads go on; nothing was chained onto the broken history.
  BOOST_TEST(c->get("/passthrough-referrers?account_id=acme").status == 200u);
  BOOST_TEST(server->stderr_text().find("broken at event 4") != std::string::npos,
             server->stderr_text());
  BOOST_TEST(c->post("/passthrough-referrers?account_id=beta", rule(1)).status == 201u);
}

// A pass of the verifier over a long history took the cores as the threads that answer
// requests do; it now runs at the lowest priority (nice 19), on its own thread only.
BOOST_AUTO_TEST_CASE(the_background_verifier_runs_at_the_lowest_priority) {
  server->stop(SIGTERM);
  start({"--verify-every", "1s", "--io-threads", "2"});
  auto nice_of = [&](const std::string& name) {
    return thread_nice(server->pid(), name);
  };
  // The verifier's thread starts before the HTTP threads, and names and lowers itself.
  eventually([&] {
    return nice_of("chain.verify") == std::vector<int>{19} && nice_of("http.io").size() == 1u;
  });
  BOOST_TEST(nice_of("chain.verify") == std::vector<int>{19}, boost::test_tools::per_element());
  // The threads that answer requests keep the process's (its main thread's, an HTTP thread).
  const std::vector<int> process{process_nice(server->pid())};
  BOOST_WARN_MESSAGE(process.front() < 19,
                     "the tests run at nice 19: the verifier cannot go lower");
  BOOST_TEST(nice_of("http.io") == process, boost::test_tools::per_element());
  BOOST_TEST(nice_of("store.commit") == process, boost::test_tools::per_element());
  BOOST_TEST(client()->post("/passthrough-referrers?account_id=acme", rule(1)).status == 201u);
}

// A connections record that cannot be read was found after the loaders, the backup actor
// and the keys actor existed; the actor system then waited for them and the process hung.
BOOST_AUTO_TEST_CASE(an_unreadable_connections_record_at_start_exits_1_with_the_reason) {
  auto c = client();
  BOOST_REQUIRE(
      c->post("/42/ai-referrals/connections", R"({"name":"ga4","source_tool":"ga4"})").status ==
      201u);
  server->stop(SIGTERM);
  {
    auto db = store::db::open({dir.sub("data"), false, 0});
    BOOST_REQUIRE(db.ok());
    store::write_batch b;
    b.put(store::column::connections, "42/zz",
          std::string("\x7f"
                      "garbled"));
    BOOST_REQUIRE((*db)->write(b, true).ok());
  }
  // Bounded: a hang is killed by timeout(1) and fails the test.
  auto r = run_command("timeout -s KILL 60 " + std::string(REFERRALD_BINARY),
                       "--listen 127.0.0.1:0 --data " + dir.sub("data"));
  BOOST_TEST(r.exit == 1, r.output);
  BOOST_TEST(r.output.find("cannot read connections") != std::string::npos, r.output);
}

// Garbled bytes in a stored event were answered 503 unavailable ("storage error during
// replaying"), which tells clients to retry forever.
BOOST_AUTO_TEST_CASE(garbled_bytes_on_disk_are_store_corrupted_not_503) {
  server->stop(SIGTERM);
  start({"--verify-every", "0"});
  auto c = client();
  for (int i = 1; i <= 3; ++i)
    BOOST_REQUIRE(c->post("/passthrough-referrers?account_id=acme", rule(i)).status == 201u);
  server->stop(SIGTERM);
  garble_events_on_disk(dir.sub("data"));
  start({"--verify-every", "0"});
  c = client();
  auto r = c->get("/passthrough-referrers?account_id=acme");
  BOOST_TEST(r.status == 500u, r.body);
  BOOST_TEST(error_code(r) == "store_corrupted");
  BOOST_TEST(r.body.find("account acme") != std::string::npos, r.body);
  BOOST_TEST(r.body.find("event 1") != std::string::npos, r.body);
  BOOST_TEST(r.body.find(".sst") == std::string::npos, r.body);  // no file names for clients
  BOOST_TEST(r.header("retry-after").empty());
  auto refused = c->post("/passthrough-referrers?account_id=acme", rule(4));
  BOOST_TEST(refused.status == 500u, refused.body);
  BOOST_TEST(error_code(refused) == "store_corrupted");
  http_client anon(server->port());
  BOOST_TEST(anon.get("/metrics").body.find("referrald_chain_broken_accounts 1") !=
             std::string::npos);
  // Other accounts are not affected.
  BOOST_TEST(c->post("/passthrough-referrers?account_id=beta", rule(1)).status == 201u);
  server->stop(SIGTERM);
  // The operator's tool names the same event.
  auto verify = referralctl("--data " + dir.sub("data") + " verify");
  BOOST_TEST(verify.exit == 1, verify.output);
  BOOST_TEST(verify.output.find("acme") != std::string::npos, verify.output);
  BOOST_TEST(verify.output.find("event 1") != std::string::npos, verify.output);
}

BOOST_AUTO_TEST_SUITE_END()
