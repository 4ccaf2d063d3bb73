// Audits and snapshots end to end: the audit log API, as_of time travel, online backups
// under load (restored by starting a server on a copy), per-account snapshots across a
// restart, and referralctl replay / verify / history / snapshot list against the real
// data directory.

#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "store/db.hpp"
#include "store/event_log.hpp"
#include "tests/http/fixture.hpp"
#include "tests/support/eventually.hpp"

using namespace referrald;
using namespace referrald::testing;

namespace {

const std::string k_list = "/passthrough-referrers?account_id=acme";

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str());
  BOOST_REQUIRE_MESSAGE(!d.HasParseError(), "not JSON: " + text);
  return d;
}

// The `data` member of a success envelope, as a document.
rapidjson::Document data_of(const http_reply& r) {
  BOOST_REQUIRE_MESSAGE(r.status == 200u || r.status == 201u, r.body);
  auto d = r.json();
  rapidjson::Document out;
  out.CopyFrom(d["data"], out.GetAllocator());
  return out;
}

void create(http_client& c, const std::string& domain) {
  auto r = c.post(k_list, R"({"domain":")" + domain + R"(","utm_source":"s"})");
  BOOST_REQUIRE_MESSAGE(r.status == 201u, r.body);
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(audit, server_fixture)

BOOST_AUTO_TEST_CASE(the_audit_log_pages_through_who_did_what_when) {
  auto c = client();
  create(*c, "a.example.com");
  create(*c, "b.example.com");
  BOOST_REQUIRE(
      c->patch("/passthrough-referrers/1?account_id=acme", R"({"utm_source":"z"})").status == 200u);
  BOOST_REQUIRE(c->del("/passthrough-referrers/2?account_id=acme").status == 204u);
  BOOST_REQUIRE(c->post("/referrer-mappings?account_id=acme",
                        R"({"referrer_pattern":"x.com","utm_source":"x"})")
                    .status == 201u);

  auto first = data_of(c->get("/audit-log?account_id=acme&limit=2"));
  BOOST_TEST(first["head_seq"].GetUint64() == 5u);
  BOOST_REQUIRE_EQUAL(first["events"].Size(), 2u);
  BOOST_TEST(first["next_after_seq"].GetUint64() == 2u);
  const auto& e1 = first["events"][0];
  BOOST_TEST(e1["seq"].GetUint64() == 1u);
  BOOST_TEST(e1["type"].GetString() == std::string("passthrough_referrer.created"));
  BOOST_TEST(e1["entity"].GetString() == std::string("passthrough_referrer"));
  BOOST_TEST(e1["entity_id"].GetInt64() == 1);
  BOOST_TEST(e1["key_id"].GetInt64() == 1);  // the bootstrap admin key
  BOOST_TEST(e1["object"]["domain"].GetString() == std::string("a.example.com"));
  BOOST_TEST(std::string(e1["timestamp"].GetString()).size() == 24u);

  auto rest = data_of(c->get("/audit-log?account_id=acme&after_seq=2"));
  BOOST_REQUIRE_EQUAL(rest["events"].Size(), 3u);
  BOOST_TEST(rest["next_after_seq"].IsNull());
  const auto& patched = rest["events"][0];
  BOOST_TEST(patched["type"].GetString() == std::string("passthrough_referrer.updated"));
  BOOST_REQUIRE_EQUAL(patched["changed"].Size(), 1u);
  BOOST_TEST(patched["changed"][0].GetString() == std::string("utm_source"));
  BOOST_TEST(patched["prev_hash"].GetString() == first["events"][1]["hash"].GetString());
  BOOST_TEST(rest["events"][2]["entity"].GetString() == std::string("referrer_mapping"));

  auto none = data_of(c->get("/audit-log?account_id=acme&after_seq=5"));
  BOOST_TEST(none["events"].Size() == 0u);
  auto empty = data_of(c->get("/audit-log?account_id=nobody"));
  BOOST_TEST(empty["head_seq"].GetUint64() == 0u);

  for (const char* bad : {"limit=0", "limit=1001", "limit=x", "after_seq=-1", "after_seq=1.5"}) {
    auto r = c->get(std::string("/audit-log?account_id=acme&") + bad);
    BOOST_TEST(r.status == 400u, bad);
    BOOST_TEST(names_field(r, std::string(bad).substr(0, std::string(bad).find('='))));
  }
  BOOST_TEST(c->get("/audit-log").status == 400u);

  // Admin only, and only for granted accounts.
  auto editor = client(make_key("editor"));
  BOOST_TEST(editor->get("/audit-log?account_id=acme").status == 403u);
  auto other_admin = client(make_key("admin", R"(["other"])"));
  BOOST_TEST(other_admin->get("/audit-log?account_id=acme").status == 403u);
  BOOST_TEST(client("rk_wrong")->get("/audit-log?account_id=acme").status == 401u);
}

// Every change at its own instant of the server's clock.
BOOST_FIXTURE_TEST_CASE(as_of_returns_the_rules_as_they_stood, in_process_fixture) {
  auto c = client();
  auto tick = [&] {
    clock.advance(std::chrono::milliseconds(5));
  };
  create(*c, "a.example.com");
  tick();
  create(*c, "b.example.com");
  auto after_two = c->get(k_list + "&include_inactive=true");
  std::string t_two =
      data_of(c->get("/passthrough-referrers/2?account_id=acme"))["created_at"].GetString();
  tick();
  BOOST_REQUIRE(
      c->patch("/passthrough-referrers/1?account_id=acme", R"({"is_active":false})").status ==
      200u);
  tick();
  BOOST_REQUIRE(c->del("/passthrough-referrers/2?account_id=acme").status == 204u);

  auto then = c->get(k_list + "&include_inactive=true&as_of=" + t_two);
  BOOST_TEST(then.body == after_two.body);
  auto one = data_of(c->get("/passthrough-referrers/2?account_id=acme&as_of=" + t_two));
  BOOST_TEST(one["domain"].GetString() == std::string("b.example.com"));
  // Now it is gone; and before anything existed there was nothing.
  BOOST_TEST(c->get("/passthrough-referrers/2?account_id=acme").status == 404u);
  BOOST_TEST(c->get("/passthrough-referrers/1?account_id=acme&as_of=2000-01-01T00:00:00Z").status ==
             404u);
  auto before = data_of(c->get(k_list + "&as_of=2000-01-01T00:00:00%2B02:00"));
  BOOST_TEST(before["total"].GetUint64() == 0u);
  // A time in the future is the current state.
  auto future = c->get(k_list + "&include_inactive=true&as_of=2999-01-01T00:00:00Z");
  BOOST_TEST(future.body == c->get(k_list + "&include_inactive=true").body);
  // Mappings too.
  BOOST_REQUIRE(c->post("/referrer-mappings?account_id=acme",
                        R"({"referrer_pattern":"x.com","utm_source":"x"})")
                    .status == 201u);
  auto mappings = data_of(c->get("/referrer-mappings?account_id=acme&as_of=" + t_two));
  BOOST_TEST(mappings["total"].GetUint64() == 0u);
  BOOST_TEST(c->get("/referrer-mappings/1?account_id=acme&as_of=2999-01-01T00:00:00Z").status ==
             200u);

  for (const char* bad : {"yesterday", "2026-02-30T00:00:00Z", "2026-11-22", "1763800000"}) {
    auto r = c->get(k_list + "&as_of=" + bad);
    BOOST_TEST(r.status == 400u, bad);
    BOOST_TEST(names_field(r, "as_of"));
    BOOST_TEST(c->get("/referrer-mappings/1?account_id=acme&as_of=" + std::string(bad)).status ==
               400u);
  }
  // as_of needs read access to the account like any read.
  auto outsider = client(make_key("viewer", R"(["other"])"));
  BOOST_TEST(outsider->get(k_list + "&as_of=" + t_two).status == 403u);
}

BOOST_AUTO_TEST_CASE(referralctl_replay_equals_what_the_server_answered_at_each_seq) {
  auto c = client();
  std::vector<std::string> seen;  // the list after event i+1
  auto record = [&] {
    seen.push_back(c->get(k_list + "&include_inactive=true").body);
  };
  create(*c, "a.example.com");
  record();
  create(*c, "b.example.com");
  record();
  BOOST_REQUIRE(c->patch("/passthrough-referrers/1?account_id=acme",
                         R"({"is_active":false,"utm_medium":"m"})")
                    .status == 200u);
  record();
  BOOST_REQUIRE(c->del("/passthrough-referrers/2?account_id=acme").status == 204u);
  record();
  create(*c, "c.example.com");
  record();
  // While the server runs (read-only open).
  for (std::size_t i = 0; i < seen.size(); ++i) {
    auto r =
        referralctl("--data " + dir.sub("data") + " replay --account acme --seq " +
                    std::to_string(i + 1) + " --entity passthrough-referrers --include-inactive");
    BOOST_REQUIRE_MESSAGE(r.exit == 0, r.output);
    auto live = parse(seen[i]);
    // The server's page carries its paging fields; the replay is the whole list.
    live["data"].RemoveMember("has_more");
    live["data"].RemoveMember("next_starting_after");
    BOOST_TEST((parse(r.output) == live["data"]), "seq " << i + 1);
  }
  auto whole = referralctl("--data " + dir.sub("data") + " replay --account acme");
  BOOST_REQUIRE_EQUAL(whole.exit, 0);
  auto doc = parse(whole.output);
  BOOST_TEST(doc["seq"].GetUint64() == 5u);
  BOOST_TEST(doc["passthrough_referrers"]["active_count"].GetUint64() == 1u);

  auto history = referralctl("--data " + dir.sub("data") +
                             " history --account acme --entity passthrough-referrers --id 1");
  BOOST_REQUIRE_EQUAL(history.exit, 0);
  BOOST_TEST(std::count(history.output.begin(), history.output.end(), '\n') == 2);
  BOOST_TEST(history.output.find("passthrough_referrer.updated") != std::string::npos);

  BOOST_TEST(referralctl("--data " + dir.sub("data") + " replay --account acme --seq 9").exit == 1);
  BOOST_TEST(referralctl("--data " + dir.sub("data") + " replay").exit == 2);
  BOOST_TEST(referralctl("--data " + dir.sub("data") + " replay --account acme --at never").exit ==
             2);
  auto missing = referralctl("--data " + dir.sub("nowhere") + " verify");
  BOOST_TEST(missing.exit == 1);
  BOOST_TEST(missing.output.find("not a referrald data directory") != std::string::npos);
  for (const char* cmd : {"replay", "verify", "history", "snapshot", "events", "keys"}) {
    auto help = referralctl(std::string(cmd) + " --help");
    BOOST_TEST(help.exit == 0, cmd);
    BOOST_TEST(help.output.find("usage: referralctl") != std::string::npos, cmd);
  }
}

BOOST_AUTO_TEST_CASE(referralctl_options_go_anywhere_and_wrong_ones_are_named) {
  auto c = client();
  create(*c, "a.example.com");
  std::string data = dir.sub("data");
  // --data after the command is the data directory, not silently ./data.
  auto after = referralctl("verify --data " + data);
  BOOST_TEST(after.exit == 0, after.output);
  BOOST_TEST(after.output.find("ok: 1 accounts") != std::string::npos, after.output);
  BOOST_TEST(referralctl("events --account acme --data=" + data).exit == 0);
  auto unknown = referralctl("verify --data " + data + " --bogus");
  BOOST_TEST(unknown.exit == 2);
  BOOST_TEST(unknown.output.find("--bogus") != std::string::npos, unknown.output);
  auto misplaced = referralctl("--data " + data + " verify --account acme");
  BOOST_TEST(misplaced.exit == 2);
  BOOST_TEST(misplaced.output.find("--account") != std::string::npos, misplaced.output);
  BOOST_TEST(referralctl("--data " + data + " verify extra").exit == 2);
  BOOST_TEST(referralctl("--data " + data + " events --account acme --account beta").exit == 2);
}

BOOST_AUTO_TEST_CASE(referralctl_reports_a_missing_account_rule_or_key_with_exit_1) {
  auto c = client();
  create(*c, "a.example.com");
  server->stop(SIGTERM);
  std::string data = "--data " + dir.sub("data");
  for (const char* cmd :
       {"events --account nosuch", "replay --account nosuch",
        "history --account nosuch --entity passthrough-referrers --id 1",
        "history --account acme --entity passthrough-referrers --id 99",
        "history --account acme --entity referrer-mappings --id 1", "keys revoke 99"}) {
    auto r = referralctl(data + " " + std::string(cmd));
    BOOST_TEST(r.exit == 1, cmd << ": " << r.output);
    BOOST_TEST(!r.output.empty(), cmd);
  }
  // The last full admin key cannot be revoked; a revoked key cannot be revoked again.
  auto last = referralctl(data + " keys revoke 1");
  BOOST_TEST(last.exit == 1, last.output);
  BOOST_TEST(last.output.find("last active admin key") != std::string::npos, last.output);
  BOOST_TEST(
      referralctl(data + " keys create --name ops --role admin --accounts '*' --brands '*'").exit ==
      0);
  BOOST_TEST(referralctl(data + " keys revoke 1").exit == 0);
  auto again = referralctl(data + " keys revoke 1");
  BOOST_TEST(again.exit == 1, again.output);
  BOOST_TEST(again.output.find("already revoked") != std::string::npos, again.output);
}

BOOST_AUTO_TEST_CASE(both_binaries_answer_version_and_help) {
  for (const char* args : {"--version", "help", "help verify", "verify --help"}) {
    auto r = referralctl(args);
    BOOST_TEST(r.exit == 0, args << ": " << r.output);
  }
  BOOST_TEST(referralctl("--version").output.find("referralctl 0.") == 0u);
  for (const char* args : {"--version", "help", "--help"}) {
    std::string cmd = std::string(REFERRALD_BINARY) + " " + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    std::size_t n = 0;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0)
      out.append(buf, n);
    int status = pclose(p);
    BOOST_TEST(WEXITSTATUS(status) == 0, args);
    BOOST_TEST(!out.empty(), args);
    if (std::string(args) == "--version") {
      BOOST_TEST(out.find("referrald 0.") == 0u, out);
      BOOST_TEST(out.find("RocksDB") != std::string::npos, out);
    }
  }
}

BOOST_AUTO_TEST_CASE(sighup_does_not_stop_the_server_and_reopens_the_log_file) {
  server->stop(SIGTERM);
  std::string log = dir.sub("referrald.log");
  start({"--log-file", log});
  auto c = client();
  BOOST_TEST(c->get("/healthz").status == 200u);
  std::filesystem::rename(log, log + ".1");  // a rotation
  BOOST_REQUIRE(kill(server->pid(), SIGHUP) == 0);
  eventually([&] { return std::filesystem::exists(log); }, std::chrono::milliseconds(2500));
  BOOST_TEST(c->get("/healthz").status == 200u);
  BOOST_TEST(std::filesystem::exists(log));
  std::ifstream rotated(log + ".1");
  std::string before((std::istreambuf_iterator<char>(rotated)), std::istreambuf_iterator<char>());
  BOOST_TEST(before.find("serving data directory") != std::string::npos, before);
  std::ifstream fresh(log);
  std::string after((std::istreambuf_iterator<char>(fresh)), std::istreambuf_iterator<char>());
  BOOST_TEST(after.find("SIGHUP") != std::string::npos, after);
  int status = server->stop(SIGTERM);
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 0);
}

BOOST_AUTO_TEST_CASE(verify_passes_on_a_clean_store_and_names_a_tampered_event) {
  auto c = client();
  for (int i = 0; i < 6; ++i)
    create(*c, "d" + std::to_string(i) + ".example.com");
  auto clean = referralctl("--data " + dir.sub("data") + " verify");
  BOOST_TEST(clean.exit == 0, clean.output);
  BOOST_TEST(clean.output.find("ok: 1 accounts, 6 events") != std::string::npos, clean.output);
  server->stop(SIGTERM);
  {
    auto d = store::db::open({dir.sub("data"), false});
    BOOST_REQUIRE(d.ok());
    auto key = store::encode_event_key("acme", 4);
    auto v = (*d)->get(store::column::events, key);
    BOOST_REQUIRE(v.ok() && v->has_value());
    std::string damaged = **v;
    damaged[20] ^= 0x01;
    store::write_batch b;
    b.put(store::column::events, key, damaged);
    BOOST_REQUIRE((*d)->write(b, true).ok());
  }
  auto bad = referralctl("--data " + dir.sub("data") + " verify");
  BOOST_TEST(bad.exit == 1);
  BOOST_TEST(bad.output.find("account acme, event 4") != std::string::npos, bad.output);
}

BOOST_AUTO_TEST_CASE(snapshots_are_written_and_used_across_a_restart) {
  server->stop(SIGTERM);
  start({"--snapshot-every", "4"});
  auto c = client();
  for (int i = 0; i < 9; ++i)
    create(*c, "s" + std::to_string(i) + ".example.com");
  BOOST_REQUIRE(
      c->patch("/passthrough-referrers/3?account_id=acme", R"({"is_active":false})").status ==
      200u);
  std::string before = c->get(k_list + "&include_inactive=true").body;
  // Snapshots are written in the background after the acknowledgement: wait for two.
  eventually(
      [&] {
        return c->get("/metrics").body.find("referrald_snapshots_written_total 2") !=
               std::string::npos;
      },
      std::chrono::seconds(2));
  BOOST_TEST(c->get("/metrics").body.find("referrald_snapshots_written_total 2") !=
             std::string::npos);
  // Snapshots are kept out of the write-ahead log; a clean stop flushes them.
  BOOST_REQUIRE_EQUAL(server->stop(SIGTERM), 0);
  auto listed = referralctl("--data " + dir.sub("data") + " snapshot list");
  BOOST_REQUIRE_EQUAL(listed.exit, 0);
  BOOST_TEST(listed.output.find(R"("seq":4)") != std::string::npos, listed.output);
  BOOST_TEST(listed.output.find(R"("seq":8)") != std::string::npos, listed.output);
  BOOST_TEST(referralctl("--data " + dir.sub("data") + " verify").exit == 0);
  start({"--snapshot-every", "4"});
  auto again = client();
  BOOST_TEST(again->get(k_list + "&include_inactive=true").body == before);
}

BOOST_AUTO_TEST_CASE(snapshots_lost_in_a_crash_cost_only_a_longer_replay) {
  server->stop(SIGTERM);
  start({"--snapshot-every", "4"});
  auto c = client();
  for (int i = 0; i < 9; ++i)
    create(*c, "k" + std::to_string(i) + ".example.com");
  std::string before = c->get(k_list + "&include_inactive=true").body;
  eventually(
      [&] {
        return c->get("/metrics").body.find("referrald_snapshots_written_total 2") !=
               std::string::npos;
      },
      std::chrono::seconds(2));
  // SIGKILL: the snapshots still in memory are gone (or not); the events are all there.
  server->stop(SIGKILL);
  BOOST_TEST(referralctl("--data " + dir.sub("data") + " verify").exit == 0);
  start({"--snapshot-every", "4"});
  auto again = client();
  BOOST_TEST(again->get(k_list + "&include_inactive=true").body == before);
  // Whatever survived, the account has a snapshot less than 4 events behind its head (9)
  // again: loading writes one at the head when it replayed 4 or more.
  BOOST_REQUIRE_EQUAL(server->stop(SIGTERM), 0);
  auto listed = referralctl("--data " + dir.sub("data") + " snapshot list");
  BOOST_TEST((listed.output.find(R"("seq":9)") != std::string::npos ||
              listed.output.find(R"("seq":8)") != std::string::npos),
             listed.output);
  start();
}

BOOST_AUTO_TEST_CASE(the_first_snapshot_after_a_start_reaches_the_disk_without_a_clean_stop) {
  server->stop(SIGTERM);
  start({"--snapshot-every", "4"});
  auto c = client();
  for (int i = 0; i < 5; ++i)
    create(*c, "f" + std::to_string(i) + ".example.com");
  // A read-only open next to the server sees only what was flushed to disk (snapshots are
  // not in the write-ahead log): the background flush started by the first snapshot.
  bool on_disk = eventually(
      [&] {
        auto listed = referralctl("--data " + dir.sub("data") + " snapshot list");
        return listed.output.find(R"("kind":"account")") != std::string::npos;
      },
      std::chrono::seconds(5), std::chrono::milliseconds(50));
  BOOST_TEST(on_disk);
  server->stop(SIGKILL);
  auto listed = referralctl("--data " + dir.sub("data") + " snapshot list");
  BOOST_TEST(listed.output.find(R"("kind":"account")") != std::string::npos, listed.output);
  start();
}

BOOST_AUTO_TEST_CASE(an_online_backup_under_load_restores_to_a_prefix_of_the_log) {
  auto c = client();
  create(*c, "first.example.com");
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::thread writer([&] {
    auto w = client();
    for (int i = 0; i < 400 && !stop; ++i) {
      auto r = w->post(
          k_list, R"({"domain":"w)" + std::to_string(i) + R"(.example.com","utm_source":"w"})");
      if (r.status == 201u) ++written;
    }
  });
  eventually([&] { return written.load() >= 5; });  // the backup is taken under load
  auto created = c->post("/admin/snapshots", "");
  stop = true;
  writer.join();
  auto backup = data_of(created);
  BOOST_TEST(created.status == 201u);
  std::string path = backup["path"].GetString();
  std::uint64_t head = backup["accounts"]["acme"].GetUint64();
  BOOST_TEST(head >= 1u);
  BOOST_TEST(backup["size_bytes"].GetUint64() > 0u);
  BOOST_TEST(path.find(dir.sub("data") + "/snapshots/") == 0u, path);
  auto list = data_of(c->get("/admin/snapshots"));
  BOOST_REQUIRE_EQUAL(list["snapshots"].Size(), 1u);
  BOOST_TEST((list["snapshots"][0]["name"] == backup["name"]));

  // The backup is a prefix of the live log, with a verified chain.
  auto verified = referralctl("--data " + path + " verify");
  BOOST_TEST(verified.exit == 0, verified.output);
  auto at_head =
      referralctl("--data " + dir.sub("data") + " replay --account acme --seq " +
                  std::to_string(head) + " --entity passthrough-referrers --include-inactive");
  BOOST_REQUIRE_EQUAL(at_head.exit, 0);

  // A server started on a copy of it serves exactly that state.
  std::filesystem::copy(path, dir.sub("restored"), std::filesystem::copy_options::recursive);
  server_process restored({dir.sub("restored"), {}, {}, true});
  http_client rc(restored.port(), admin_secret);
  auto served = parse(rc.get(k_list + "&include_inactive=true&limit=1000").body);
  BOOST_REQUIRE(!served["data"]["has_more"].GetBool());
  served["data"].RemoveMember("has_more");
  served["data"].RemoveMember("next_starting_after");
  BOOST_TEST((served["data"] == parse(at_head.output)));
  BOOST_TEST(served["data"]["total"].GetUint64() == head);

  // Backups cover every tenant: a scoped admin may not take or list them.
  auto scoped = client(make_key("admin", R"(["acme"])", R"(["*"])"));
  BOOST_TEST(scoped->post("/admin/snapshots", "").status == 403u);
  BOOST_TEST(scoped->get("/admin/snapshots").status == 403u);
  BOOST_TEST(client(make_key("editor"))->post("/admin/snapshots", "").status == 403u);
}

BOOST_AUTO_TEST_SUITE_END()
