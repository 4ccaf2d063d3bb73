// Two referrald nodes on one three-server NATS cluster, over HTTP: a rule written on one
// is read on the other; the same rule created on both at once is created once (201) and
// refused once (409); many creates into one account from both nodes are all stored, in
// one gap-free, verifiable history.

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <future>
#include <thread>

#include "tests/support/command.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/nats_cluster.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/temp_dir.hpp"

using namespace referrald;
using namespace referrald::testing;
using namespace std::chrono_literals;

namespace {

struct cluster_node {
  temp_dir dir;
  std::unique_ptr<server_process> server;

  cluster_node(const nats_cluster& c, const std::string& name) {
    server_process::options o;
    o.data_dir = dir.path();
    o.args = {"--cluster", c.urls(), "--node-name", name};
    server = std::make_unique<server_process>(o);
  }
  std::unique_ptr<http_client> client() {
    return std::make_unique<http_client>(server->port(), admin_secret);
  }
};

std::string body(const std::string& domain) {
  return R"({"domain":")" + domain + R"(","utm_source":"s"})";
}

// Polls until `fn` is true or 5 s passed.
template <class Fn>
bool eventually(Fn fn) {
  for (auto until = std::chrono::steady_clock::now() + 5s; std::chrono::steady_clock::now() < until;
       std::this_thread::sleep_for(20ms)) {
    if (fn()) return true;
  }
  return fn();
}

}  // namespace

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
  bool taken = false;
  for (auto until = std::chrono::steady_clock::now() + 60s;
       !taken && std::chrono::steady_clock::now() < until; std::this_thread::sleep_for(500ms)) {
    taken = c->post("/passthrough-referrers?account_id=acme", body("three.com")).status == 201;
  }
  BOOST_REQUIRE(taken);
  // Right after a restart the stream may not answer readers yet: that is a read failure
  // (exit 1 with the reason), never a broken history.
  command_result verified;
  for (int tries = 0; tries < 40; ++tries, std::this_thread::sleep_for(500ms)) {
    verified = referralctl("--cluster " + nats.urls() + " verify");
    BOOST_TEST(verified.output.find("FAILED") == std::string::npos, verified.output);
    if (verified.exit == 0) break;
  }
  BOOST_TEST(verified.exit == 0, verified.output);
  BOOST_TEST(verified.output.find("2 events") != std::string::npos, verified.output);
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
  auto nobody =
      run_command(REFERRALD_BINARY,
                  "--data " + dir.path() + " --listen 127.0.0.1:0 --cluster nats://127.0.0.1:1");
  BOOST_TEST(nobody.exit == 1, nobody.output);
  BOOST_TEST(nobody.output.find("cannot join the cluster") != std::string::npos, nobody.output);
}

BOOST_AUTO_TEST_SUITE_END()
