// Two referrald nodes on one three-server NATS cluster, over HTTP: a rule written on one
// is read on the other; the same rule created on both at once is created once (201) and
// refused once (409); many creates into one account from both nodes are all stored, in
// one gap-free, verifiable history.

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <thread>

#include "tests/cluster/helpers.hpp"
#include "tests/cluster/nodes.hpp"
#include "tests/support/command.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/nats_cluster.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace referrald;
using namespace referrald::testing;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(cluster_nodes)

BOOST_AUTO_TEST_CASE(rules_written_on_one_node_are_served_by_every_node) {
  nats_cluster nats(3);
  cluster_node a(nats, "a"), b(nats, "b");
  auto ca = a.client();
  auto cb = b.client();
  auto created = ca->post("/passthrough-referrers?account_id=acme", body("paypal.com"));
  BOOST_REQUIRE_MESSAGE(created.status == 201, created.body);
  BOOST_TEST(eventually([&] {
    auto r = cb->get("/passthrough-referrers/1?account_id=acme");
    return r.status == 200 && r.body.find("paypal.com") != std::string::npos;
  }));
  // And the other way round, a change of it.
  BOOST_REQUIRE(eventually([&] {
    return cb->patch("/passthrough-referrers/1?account_id=acme", R"({"utm_source":"pp"})").status ==
           200;
  }));
  BOOST_TEST(eventually([&] {
    return ca->get("/passthrough-referrers/1?account_id=acme").body.find("\"pp\"") !=
           std::string::npos;
  }));
}

BOOST_AUTO_TEST_CASE(the_same_rule_created_on_two_nodes_at_once_is_created_once) {
  nats_cluster nats(3);
  cluster_node a(nats, "a"), b(nats, "b");
  // Both nodes know the account first, so that their creates race.
  BOOST_REQUIRE(a.client()->post("/passthrough-referrers?account_id=acme", body("x.com")).status ==
                201);
  BOOST_REQUIRE(eventually(
      [&] { return b.client()->get("/passthrough-referrers/1?account_id=acme").status == 200; }));
  for (int round = 0; round < 5; ++round) {
    std::string domain = "race" + std::to_string(round) + ".com";
    auto on_a = std::async(std::launch::async, [&] {
      return a.client()->post("/passthrough-referrers?account_id=acme", body(domain)).status;
    });
    auto on_b = std::async(std::launch::async, [&] {
      return b.client()->post("/passthrough-referrers?account_id=acme", body(domain)).status;
    });
    unsigned sa = on_a.get(), sb = on_b.get();
    BOOST_TEST(((sa == 201 && sb == 409) || (sa == 409 && sb == 201)),
               "round " << round << ": " << sa << " and " << sb);
  }
  auto verified = referralctl("--cluster " + nats.urls() + " verify");
  BOOST_TEST(verified.exit == 0, verified.output);
  BOOST_TEST(verified.output.find("6 events") != std::string::npos, verified.output);
}

BOOST_AUTO_TEST_CASE(concurrent_creates_from_both_nodes_are_all_stored_in_one_history) {
  nats_cluster nats(3);
  cluster_node a(nats, "a"), b(nats, "b");
  std::vector<std::future<unsigned>> answers;
  for (int i = 0; i < 30; ++i) {
    auto* node = i % 2 == 0 ? &a : &b;
    answers.push_back(std::async(std::launch::async, [node, i] {
      return node->client()
          ->post("/passthrough-referrers?account_id=shared", body("d" + std::to_string(i) + ".com"))
          .status;
    }));
  }
  for (auto& f : answers)
    BOOST_TEST(f.get() == 201u);
  for (auto* node : {&a, &b}) {
    BOOST_TEST(eventually([&] {
      return node->client()
                 ->get("/passthrough-referrers?account_id=shared")
                 .body.find("\"total\":30") != std::string::npos;
    }));
  }
  auto verified = referralctl("--cluster " + nats.urls() + " verify");
  BOOST_TEST(verified.exit == 0, verified.output);
  BOOST_TEST(verified.output.find("30 events") != std::string::npos, verified.output);
}

// Every write answers the account's sequence after it; a read on another node that names
// it waits until that node has applied it (and gives up after 2 s with 503).
BOOST_AUTO_TEST_CASE(writes_answer_their_sequence_and_reads_on_any_node_can_wait_for_it) {
  nats_cluster nats(3);
  cluster_node a(nats, "a"), b(nats, "b");
  auto ca = a.client();
  auto cb = b.client();
  BOOST_TEST(cb->get("/readyz").status == 200u);
  BOOST_TEST(cb->get("/readyz").body.find(R"("connected":true)") != std::string::npos);
  // B has the account loaded (and so a state that may lag).
  BOOST_TEST(cb->get("/passthrough-referrers?account_id=acme").status == 200u);
  std::string last_seq;
  for (int i = 0; i < 5; ++i) {
    auto created =
        ca->post("/passthrough-referrers?account_id=acme", body("w" + std::to_string(i) + ".com"));
    BOOST_REQUIRE_MESSAGE(created.status == 201u, created.body);
    BOOST_TEST(created.header("referrald-seq") == std::to_string(i + 1));
    last_seq = created.header("referrald-seq");
    // Read on B at once, naming the sequence: never a stale answer.
    auto read =
        cb->request("GET", "/passthrough-referrers/" + std::to_string(i + 1) + "?account_id=acme",
                    {}, {{"Referrald-Min-Seq", last_seq}});
    BOOST_TEST(read.status == 200u, read.body);
  }
  auto patched = cb->patch("/passthrough-referrers/1?account_id=acme", R"({"utm_source":"z"})");
  BOOST_TEST(patched.header("referrald-seq") == "6");
  BOOST_TEST(ca->request("GET", "/passthrough-referrers/1?account_id=acme", {},
                         {{"Referrald-Min-Seq", "6"}})
                 .body.find(R"("utm_source":"z")") != std::string::npos);
  auto deleted = ca->del("/passthrough-referrers/2?account_id=acme");
  BOOST_TEST(deleted.status == 204u);
  BOOST_TEST(deleted.header("referrald-seq") == "7");
  // Resolutions wait the same way.
  auto resolved =
      cb->request("POST", "/attribution/resolve?account_id=acme",
                  R"({"referrer":"https://w3.com/","landing_url":"https://shop.example/"})",
                  {{"Referrald-Min-Seq", "7"}});
  BOOST_TEST(resolved.status == 200u, resolved.body);
  // A sequence the account never reaches: 503 after the wait, with Retry-After.
  auto start = std::chrono::steady_clock::now();
  auto ahead = cb->request("GET", "/passthrough-referrers?account_id=acme", {},
                           {{"Referrald-Min-Seq", "1000"}});
  auto waited = std::chrono::steady_clock::now() - start;
  BOOST_TEST(ahead.status == 503u, ahead.body);
  BOOST_TEST(ahead.header("retry-after") == "1");
  BOOST_TEST(ahead.body.find("Referrald-Min-Seq") != std::string::npos, ahead.body);
  BOOST_TEST((waited >= 1900ms && waited < 5s));
  auto bad = cb->request("GET", "/passthrough-referrers?account_id=acme", {},
                         {{"Referrald-Min-Seq", "soon"}});
  BOOST_TEST(bad.status == 400u, bad.body);
  BOOST_TEST(bad.body.find("Referrald-Min-Seq") != std::string::npos, bad.body);
  auto metrics = http_client(b.server->port()).get("/metrics").body;
  BOOST_TEST(metrics.find("\nreferrald_cluster_apply_lag_seconds ") != std::string::npos);
  BOOST_TEST(metrics.find("\nreferrald_cluster_connected 1") != std::string::npos);
  BOOST_TEST(metrics.find("\nreferrald_cluster_applied_seq ") != std::string::npos);
  BOOST_TEST(metrics.find("\nreferrald_cluster_copy_refills_total 0\n") != std::string::npos);
  // A cluster node's whole exposition passes Prometheus's own check (build/tools/promtool,
  // taken by tools/dev from Debian's prometheus package).
  temp_dir scrape;
  std::string file = scrape.sub("metrics.txt");
  std::ofstream(file) << metrics;
  auto checked = run_command(REFERRALD_PROMTOOL, "check metrics < " + file);
  BOOST_TEST(checked.exit == 0, checked.output);
  BOOST_TEST(checked.output.empty(), checked.output);
}

// A key created on one node works on every node; one revoked on one node is refused by
// every node within a second; keys created at once on two nodes get distinct ids.
// A node reads the version of each NATS server and exposes it; one older than 2.10.23 is a
// warning in /readyz and the log, and the node stays ready.
BOOST_AUTO_TEST_CASE(a_node_names_each_nats_servers_version_and_warns_of_an_old_one) {
  auto info_line = [](const std::string& metrics, const std::string& version) {
    return metrics.find("referrald_cluster_nats_server_info{server=\"n1\",address=\"127.0.0.1:") !=
               std::string::npos &&
           metrics.find("\",version=\"" + version + "\"} 1\n") != std::string::npos;
  };
  nats_cluster nats(1);
  cluster_node a(nats, "a");
  const auto& running = nats_server_running();
  BOOST_TEST(eventually(
      [&] { return info_line(http_client(a.server->port()).get("/metrics").body, running.text); },
      10s));
  if (running.at_least(2, 10, 23)) {
    auto ready = a.client()->get("/readyz");
    BOOST_TEST(ready.status == 200u, ready.body);
    BOOST_TEST(ready.body.find("older than 2.10.23") == std::string::npos, ready.body);
  }

  // Debian 12's own server, when it is installed and older.
  const std::string old_bin = "/usr/sbin/nats-server";
  auto old_version =
      std::filesystem::exists(old_bin) ? nats_server_version_of(old_bin) : nats_server_version{};
  if (old_version.text.empty() || old_version.at_least(2, 10, 23)) {
    BOOST_TEST_MESSAGE("no nats-server older than 2.10.23 at " << old_bin << ": its part skipped");
    return;
  }
  nats_cluster_options o;
  o.binary = old_bin;
  nats_cluster old(1, o);
  cluster_node b(old, "b");
  BOOST_TEST(eventually(
      [&] {
        return info_line(http_client(b.server->port()).get("/metrics").body, old_version.text);
      },
      10s));
  http_reply ready;
  BOOST_TEST(eventually(
      [&] {
        ready = b.client()->get("/readyz");
        return ready.body.find("older than 2.10.23") != std::string::npos;
      },
      10s));
  BOOST_TEST(ready.status == 200u, ready.body);
  BOOST_TEST(ready.body.find("runs nats-server " + old_version.text) != std::string::npos,
             ready.body);
  BOOST_TEST(eventually(
      [&] {
        return b.server->stderr_text().find("runs nats-server " + old_version.text +
                                            ", older than 2.10.23") != std::string::npos;
      },
      5s));
}

BOOST_AUTO_TEST_CASE(api_keys_are_cluster_wide) {
  nats_cluster nats(3);
  // Both nodes start at once with the same bootstrap secret: the cluster gets one key.
  auto starting =
      std::async(std::launch::async, [&] { return std::make_unique<cluster_node>(nats, "b"); });
  cluster_node a(nats, "a");
  auto b_node = starting.get();
  cluster_node& b = *b_node;
  BOOST_TEST(eventually([&] {
    auto listed = a.client()->get("/api-keys");
    return listed.status == 200u && listed.json()["data"]["keys"].Size() == 1u;
  }));
  auto created = a.client()->post(
      "/api-keys", R"({"name":"ci","role":"viewer","accounts":["acme"],"brands":[7]})");
  BOOST_REQUIRE_MESSAGE(created.status == 201u, created.body);
  auto key = created.json();
  std::string secret = key["data"]["secret"].GetString();
  std::string id = std::to_string(key["data"]["id"].GetInt64());
  http_client on_a(a.server->port(), secret), on_b(b.server->port(), secret);
  BOOST_TEST(on_a.get("/passthrough-referrers?account_id=acme").status == 200u);
  BOOST_TEST(eventually(
      [&] { return on_b.get("/passthrough-referrers?account_id=acme").status == 200u; }));
  BOOST_TEST(b.client()->get("/api-keys/" + id).status == 200u);

  BOOST_REQUIRE(a.client()->del("/api-keys/" + id).status == 204u);
  BOOST_TEST(on_a.get("/passthrough-referrers?account_id=acme").status == 401u);
  bool refused = eventually(
      [&] { return on_b.get("/passthrough-referrers?account_id=acme").status == 401u; }, 1s, 5ms);
  BOOST_TEST(refused, "node B still took the key revoked on A after 1 s");

  // Creates racing on both nodes: every key gets its own id and works everywhere.
  std::vector<std::future<http_reply>> made;
  for (int i = 0; i < 8; ++i) {
    auto* node = i % 2 == 0 ? &a : &b;
    made.push_back(std::async(std::launch::async, [node, i] {
      return node->client()->post("/api-keys",
                                  R"({"name":"k)" + std::to_string(i) +
                                      R"(","role":"viewer","accounts":["acme"],"brands":[7]})");
    }));
  }
  std::set<std::int64_t> ids;
  std::vector<std::string> secrets;
  for (auto& f : made) {
    auto r = f.get();
    BOOST_REQUIRE_MESSAGE(r.status == 201u, r.body);
    auto d = r.json();
    ids.insert(d["data"]["id"].GetInt64());
    secrets.emplace_back(d["data"]["secret"].GetString());
  }
  BOOST_TEST(ids.size() == 8u);
  for (const auto& s : secrets) {
    for (auto* node : {&a, &b}) {
      http_client c(node->server->port(), s);
      BOOST_TEST(eventually([&] { return c.get("/ai-platforms").status == 200u; }));
    }
  }
}

// Connections made on one node take pushes on another; one batch_id pushed to both nodes
// at once is stored once (the same body: both get the same answer; another body: 409).
BOOST_AUTO_TEST_CASE(connections_and_pushes_are_cluster_wide_and_a_batch_id_is_stored_once) {
  nats_cluster nats(3);
  cluster_node a(nats, "a"), b(nats, "b");
  auto made =
      a.client()->post("/42/ai-referrals/connections", R"({"name":"GA4","source_tool":"ga4"})");
  BOOST_REQUIRE_MESSAGE(made.status == 201u, made.body);
  std::string id = made.json()["data"]["id"].GetString();
  std::string events = "/42/ai-referrals/connections/" + id + "/events";
  BOOST_TEST(eventually(
      [&] { return b.client()->get("/42/ai-referrals/connections/" + id).status == 200u; }));
  auto rows = [](const std::string& batch, int pageviews) {
    std::string out = "[";
    for (int i = 0; i < 50; ++i) {
      out += std::string(i ? "," : "") +
             R"({"date":"2026-05-20","raw_referrer_value":"chatgpt.com","raw_page_value":"/p)" +
             std::to_string(i) + R"(","pageviews":)" + std::to_string(pageviews) +
             R"(,"batch_id":")" + batch + R"("})";
    }
    return out + "]";
  };
  auto push_both = [&](const std::string& body_a, const std::string& body_b) {
    auto on_a = std::async(std::launch::async, [&] { return a.client()->post(events, body_a); });
    auto on_b = std::async(std::launch::async, [&] { return b.client()->post(events, body_b); });
    return std::make_pair(on_a.get(), on_b.get());
  };
  for (int round = 0; round < 3; ++round) {
    std::string batch = "same-" + std::to_string(round);
    auto [ra, rb] = push_both(rows(batch, 1), rows(batch, 1));
    BOOST_TEST(ra.status == 200u, ra.body);
    BOOST_TEST(rb.status == 200u, rb.body);
    BOOST_TEST(ra.body == rb.body);
    std::string other = "diff-" + std::to_string(round);
    auto [da, db] = push_both(rows(other, 1), rows(other, 2));
    BOOST_TEST(
        ((da.status == 200u && db.status == 409u) || (da.status == 409u && db.status == 200u)),
        "round " << round << ": " << da.status << " and " << db.status);
  }
  // Every row counted once, on both nodes (50 pages, each pushed with pageviews 1 or 2).
  for (auto* node : {&a, &b}) {
    BOOST_TEST(eventually([&] {
      auto r = node->client()->get("/42/ai-referrals/report?from=2026-05-20&to=2026-05-20");
      return r.status == 200u && r.json()["data"]["totals"]["rows"].GetInt() == 50;
    }));
  }
  BOOST_TEST(b.client()->del("/42/ai-referrals/connections/" + id).status == 204u);
  BOOST_TEST(eventually(
      [&] { return a.client()->get("/42/ai-referrals/connections/" + id).status == 404u; }));
}

// Without any NATS server, writes are refused (nothing acknowledged) while reads and
// resolutions go on from the node's own state; once the servers are back, writes are
// taken again without restarting the node, and the history holds exactly the
// acknowledged writes.
BOOST_AUTO_TEST_CASE(with_the_whole_cluster_down_writes_are_refused_and_reads_go_on) {
  nats_cluster nats(3);
  cluster_node a(nats, "a");
  auto c = a.client();
  BOOST_REQUIRE(c->post("/passthrough-referrers?account_id=acme", body("one.com")).status == 201);
  for (int i = 0; i < nats.size(); ++i)
    nats.kill(i);
  auto refused = c->post("/passthrough-referrers?account_id=acme", body("two.com"));
  BOOST_TEST(refused.status == 503u, refused.body);
  BOOST_TEST(c->get("/passthrough-referrers?account_id=acme").status == 200u);
  auto resolved =
      c->post("/attribution/resolve?account_id=acme",
              R"({"referrer":"https://one.com/","landing_url":"https://shop.example/"})");
  BOOST_TEST(resolved.status == 200u, resolved.body);
  for (int i = 0; i < nats.size(); ++i)
    nats.restart(i);
  // A 503 while the servers come back may still have been stored (at most once): the next
  // attempt then finds the domain taken (409), which is the write taken too.
  bool maybe_stored = false;
  std::string last;
  bool taken = eventually(
      [&] {
        auto r = c->post("/passthrough-referrers?account_id=acme", body("three.com"));
        bool stored = r.status == 201 || (r.status == 409 && maybe_stored);
        maybe_stored = maybe_stored || r.status == 503;
        last = std::to_string(r.status) + " " + r.body;
        return stored;
      },
      60s, 500ms);
  BOOST_REQUIRE_MESSAGE(taken, last);
  // Right after a restart the stream may not answer readers yet: that is a read failure
  // (exit 1 with the reason), never a broken history.
  auto verified = verify_eventually(nats.urls());
  BOOST_TEST(verified.exit == 0, verified.output);
  BOOST_TEST(verified.output.find("2 events") != std::string::npos, verified.output);
}

// kill -9 of the NATS server leading the stream while both nodes write: writes go on after
// the election, and every acknowledged write is in the history, on both nodes.
BOOST_AUTO_TEST_CASE(losing_the_stream_leader_during_writes_loses_nothing) {
  nats_cluster nats(3);
  cluster_node a(nats, "a"), b(nats, "b");
  rule_writer wa{"shared", "a", {}, 0, {}}, wb{"shared", "b", {}, 0, {}};
  std::atomic<bool> killed{false};
  int leader = -1;
  auto kill_at = [&](int acknowledged) {
    if (acknowledged == 10 && !killed.exchange(true)) {
      leader = stream_leader(nats);
      nats.kill(leader);
    }
  };
  auto on_b = std::async(std::launch::async, [&] { wb.run(b, 25, [](int) {}); });
  wa.run(a, 25, kill_at);
  on_b.get();
  BOOST_REQUIRE_MESSAGE(wa.problem.empty() && wb.problem.empty(), wa.problem << wb.problem);
  BOOST_TEST(killed.load());
  // The operators' view: another server leads the stream.
  auto status = referralctl("--cluster " + nats.urls() + " cluster status");
  BOOST_TEST(status.exit == 0, status.output);
  BOOST_TEST(status.output.find(R"("leader":"n)" + std::to_string(leader + 1)) == std::string::npos,
             status.output);
  auto all = wa.acknowledged;
  all.insert(all.end(), wb.acknowledged.begin(), wb.acknowledged.end());
  expect_all_on(a, "shared", all);
  expect_all_on(b, "shared", all);
  // Reading the stream right after the election may time out: a read failure (exit 1),
  // never a broken history.
  auto verified = verify_eventually(nats.urls());
  BOOST_TEST(verified.exit == 0, verified.output);
  BOOST_TEST_MESSAGE("writes refused during the election: " << wa.refused + wb.refused);
}

// kill -9 of a referrald node while both write: restarted on its data directory, it
// catches up (its own acknowledged writes and the other node's) and writes again.
BOOST_AUTO_TEST_CASE(a_node_killed_during_writes_catches_up_when_restarted) {
  nats_cluster nats(3);
  cluster_node a(nats, "a"), b(nats, "b");
  rule_writer wa{"shared", "a", {}, 0, {}}, wb{"shared", "b", {}, 0, {}};
  auto on_a = std::async(std::launch::async, [&] { wa.run(a, 40, [](int) {}); });
  wb.run(b, 10, [](int) {});
  BOOST_REQUIRE(b.server->stop(SIGKILL) != 0);
  on_a.get();
  BOOST_REQUIRE_MESSAGE(wa.problem.empty() && wb.problem.empty(), wa.problem << wb.problem);
  b.restart();
  auto all = wa.acknowledged;
  all.insert(all.end(), wb.acknowledged.begin(), wb.acknowledged.end());
  expect_all_on(b, "shared", all);
  wb.run(b, 15, [](int) {});
  BOOST_REQUIRE_MESSAGE(wb.problem.empty(), wb.problem);
  all.insert(all.end(), wb.acknowledged.begin() + 10, wb.acknowledged.end());
  expect_all_on(a, "shared", all);
  auto verified = referralctl("--cluster " + nats.urls() + " verify");
  BOOST_TEST(verified.exit == 0, verified.output);
}

// A single-node data directory moved into a cluster: the same histories (verify through the
// stream), keys, connections, rows and batch ids, served by a fresh node; a second import
// is refused.
BOOST_AUTO_TEST_CASE(an_embedded_store_moves_into_a_cluster_with_its_whole_history) {
  temp_dir embedded;
  std::string secret, connection;
  std::string rows =
      R"([{"date":"2026-05-20","raw_referrer_value":"chatgpt.com","raw_page_value":"/a","pageviews":3,"batch_id":"b1"},
                         {"date":"2026-05-20","raw_referrer_value":"perplexity.ai","raw_page_value":"/b","pageviews":1,"batch_id":"b1"}])";
  std::string batch_answer;
  {
    server_process::options o;
    o.data_dir = embedded.path();
    server_process single(o);
    http_client c(single.port(), admin_secret);
    for (int i = 0; i < 3; ++i) {
      BOOST_REQUIRE(
          c.post("/passthrough-referrers?account_id=acme", body("m" + std::to_string(i) + ".com"))
              .status == 201u);
    }
    BOOST_REQUIRE(
        c.patch("/passthrough-referrers/2?account_id=acme", R"({"utm_source":"moved"})").status ==
        200u);
    BOOST_REQUIRE(c.post("/passthrough-referrers?account_id=beta", body("b.com")).status == 201u);
    auto key =
        c.post("/api-keys", R"({"name":"ci","role":"viewer","accounts":["acme"],"brands":[42]})");
    BOOST_REQUIRE(key.status == 201u);
    secret = key.json()["data"]["secret"].GetString();
    auto made = c.post("/42/ai-referrals/connections", R"({"name":"GA4","source_tool":"ga4"})");
    BOOST_REQUIRE(made.status == 201u);
    connection = made.json()["data"]["id"].GetString();
    auto pushed = c.post("/42/ai-referrals/connections/" + connection + "/events", rows);
    BOOST_REQUIRE(pushed.status == 200u);
    batch_answer = pushed.body;
    BOOST_REQUIRE(single.stop(SIGTERM) == 0);
  }
  nats_cluster nats(3);
  auto moved =
      referralctl("cluster import --data " + embedded.path() + " --cluster " + nats.urls());
  BOOST_REQUIRE_MESSAGE(moved.exit == 0, moved.output);
  BOOST_TEST(moved.output.find(
                 "2 accounts, 5 events, 2 API keys, 1 connections, 2 AI rows, 1 batch records") !=
                 std::string::npos,
             moved.output);
  auto verified = referralctl("--cluster " + nats.urls() + " verify");
  BOOST_TEST(verified.exit == 0, verified.output);
  BOOST_TEST(verified.output.find("2 accounts, 5 events") != std::string::npos, verified.output);
  // The same events, byte for byte: the stream's history prints as the directory's.
  auto from_dir = referralctl("--data " + embedded.path() + " events --account acme");
  auto from_stream = referralctl("--cluster " + nats.urls() + " events --account acme");
  BOOST_TEST(from_dir.exit == 0);
  BOOST_TEST(from_stream.output == from_dir.output);

  cluster_node node(nats, "fresh");
  auto c = node.client();
  auto list = c->get("/passthrough-referrers?account_id=acme");
  BOOST_TEST(list.body.find(R"("total":3)") != std::string::npos, list.body);
  BOOST_TEST(list.body.find(R"("utm_source":"moved")") != std::string::npos, list.body);
  BOOST_TEST(http_client(node.server->port(), secret)
                 .get("/passthrough-referrers?account_id=acme")
                 .status == 200u);
  BOOST_TEST(c->get("/42/ai-referrals/connections/" + connection).status == 200u);
  auto report = c->get("/42/ai-referrals/report?from=2026-05-20&to=2026-05-20");
  BOOST_TEST(report.json()["data"]["totals"]["pageviews"].GetInt() == 4);
  std::string events = "/42/ai-referrals/connections/" + connection + "/events";
  auto again = c->post(events, rows);
  BOOST_TEST(again.status == 200u);
  BOOST_TEST(again.body == batch_answer);
  BOOST_TEST(
      c->post(
           events,
           R"([{"date":"2026-05-20","raw_referrer_value":"chatgpt.com","raw_page_value":"/a","pageviews":9,"batch_id":"b1"}])")
          .status == 409u);
  // Writes go on from where the single node stopped.
  auto next = c->post("/passthrough-referrers?account_id=acme", body("after.com"));
  BOOST_TEST(next.status == 201u, next.body);
  BOOST_TEST(next.header("referrald-seq") == "5");

  // The node's copy is a whole store (it verifies as one), whose keys belong to the
  // cluster: referralctl does not change them there.
  BOOST_REQUIRE(node.server->stop(SIGTERM) == 0);
  auto copy_verified = referralctl("--data " + node.dir.path() + " verify");
  BOOST_TEST(copy_verified.exit == 0, copy_verified.output);
  BOOST_TEST(copy_verified.output.find("2 accounts, 6 events") != std::string::npos,
             copy_verified.output);
  auto local_key = referralctl("--data " + node.dir.path() +
                               " keys create --name x --role viewer --accounts acme");
  BOOST_TEST(local_key.exit == 1, local_key.output);
  BOOST_TEST(local_key.output.find("cluster node's copy") != std::string::npos, local_key.output);

  auto twice =
      referralctl("cluster import --data " + embedded.path() + " --cluster " + nats.urls());
  BOOST_TEST(twice.exit == 1, twice.output);
  BOOST_TEST(twice.output.find("already holds 2 of the accounts") != std::string::npos,
             twice.output);
}

// A mistyped or unreachable cluster is said at start, not found out at the first write.
BOOST_AUTO_TEST_CASE(a_wrong_or_unreachable_cluster_stops_the_start_with_a_reason) {
  temp_dir dir;
  auto typo = run_command(REFERRALD_BINARY, "--data " + dir.path() + " --cluster 127.0.0.1:4222");
  BOOST_TEST(typo.exit == 2, typo.output);
  BOOST_TEST(typo.output.find("--cluster must list nats://HOST:PORT") != std::string::npos,
             typo.output);
  auto replicas =
      run_command(REFERRALD_BINARY,
                  "--data " + dir.path() + " --cluster nats://127.0.0.1:1 --cluster-replicas 9");
  BOOST_TEST(replicas.exit == 2, replicas.output);
  // Nothing listens on port 1: the node gives up after its timeout and says why.
  auto nobody = run_command(
      REFERRALD_BINARY, "--data " + dir.path() +
                            " --listen 127.0.0.1:0 --cluster nats://127.0.0.1:1 --cluster-wait 2");
  BOOST_TEST(nobody.exit == 1, nobody.output);
  BOOST_TEST(nobody.output.find("cannot join the cluster") != std::string::npos, nobody.output);
}

BOOST_AUTO_TEST_SUITE_END()
