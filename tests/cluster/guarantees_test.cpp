// What cluster mode guarantees when things happen on several nodes at once, each shown with
// two or three real nodes on real nats-server processes: the stream holds the replicas the
// operator wants, whatever the URLs a node or referralctl was given.

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "tests/cluster/helpers.hpp"
#include "tests/cluster/nodes.hpp"
#include "tests/support/command.hpp"

using namespace referrald;
using namespace referrald::testing;
using namespace std::chrono_literals;

namespace {

// The stream's replicas as `referralctl cluster status` reports them through `url`.
int status_replicas(const std::string& url, command_result* out = nullptr) {
  auto r = referralctl("--cluster " + url + " cluster status");
  if (out != nullptr) *out = r;
  auto at = r.output.find("\"replicas\":");
  if (at == std::string::npos) return -1;
  return std::stoi(r.output.substr(at + 11));
}

// A metric's value in a node's /metrics ("" when absent).
std::string metric(cluster_node& node, const std::string& name) {
  std::string text = http_client(node.server->port()).get("/metrics").body;
  auto at = text.find("\n" + name + " ");
  if (at == std::string::npos) return {};
  auto end = text.find('\n', at + 1);
  return text.substr(at + name.size() + 2, end - at - name.size() - 2);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cluster_guarantees)

// referralctl cluster import given the one URL a NATS client usually gets made a stream of
// one replica: killing that server stopped every write, and its disk held the only copy.
BOOST_AUTO_TEST_CASE(an_import_given_one_url_replicates_the_stream_and_outlives_that_server) {
  temp_dir embedded;
  {
    server_process::options o;
    o.data_dir = embedded.path();
    server_process single(o);
    http_client c(single.port(), admin_secret);
    for (int i = 0; i < 3; ++i) {
      BOOST_REQUIRE(c.post("/passthrough-referrers?account_id=shared",
                           body("old" + std::to_string(i) + ".com"))
                        .status == 201u);
    }
    BOOST_REQUIRE(single.stop(SIGTERM) == 0);
  }
  nats_cluster nats(3);
  auto moved =
      referralctl("cluster import --data " + embedded.path() + " --cluster " + nats.url(0));
  BOOST_REQUIRE_MESSAGE(moved.exit == 0, moved.output);
  command_result status;
  BOOST_TEST(status_replicas(nats.url(0), &status) == 3, status.output);
  BOOST_TEST(status.exit == 0, status.output);

  // One node knows only the first server, the other only the second.
  cluster_node a(nats.url(0), "a"), b(nats.url(1), "b");
  rule_writer wa{"shared", "a", {}, 0, {}}, wb{"shared", "b", {}, 0, {}};
  std::atomic<bool> killed{false};
  auto kill_first = [&](int acknowledged) {
    if (acknowledged == 8 && !killed.exchange(true)) nats.kill(0);
  };
  auto on_b = std::async(std::launch::async, [&] { wb.run(b, 20, [](int) {}); });
  wa.run(a, 20, kill_first);
  on_b.get();
  BOOST_REQUIRE_MESSAGE(wa.problem.empty() && wb.problem.empty(), wa.problem << wb.problem);
  BOOST_TEST(killed.load());
  std::vector<std::string> all = {"old0.com", "old1.com", "old2.com"};
  all.insert(all.end(), wa.acknowledged.begin(), wa.acknowledged.end());
  all.insert(all.end(), wb.acknowledged.begin(), wb.acknowledged.end());
  expect_all_on(a, "shared", all);
  expect_all_on(b, "shared", all);
  command_result verified;
  for (int tries = 0; tries < 20; ++tries, std::this_thread::sleep_for(500ms)) {
    verified = referralctl("--cluster " + nats.url(1) + " verify");
    if (verified.exit == 0) break;
  }
  BOOST_TEST(verified.exit == 0, verified.output);
  BOOST_TEST_MESSAGE("writes refused during the election: " << wa.refused + wb.refused);
}

// Nodes started on a stream of fewer replicas used it without a word.
BOOST_AUTO_TEST_CASE(a_stream_of_too_few_replicas_is_raised_or_the_node_does_not_start) {
  nats_cluster nats(3);
  {
    store::cluster_options o;
    o.servers = {nats.url(0)};
    o.node_name = "one-replica";
    o.replicas = 1;
    auto log = store::cluster_log::open(o);
    BOOST_REQUIRE_MESSAGE(log.ok(), (log.ok() ? "" : log.err().message));
  }
  BOOST_REQUIRE(status_replicas(nats.url(0)) == 1);
  // A reader says so, and fails: the stream holds fewer copies than it should.
  command_result status;
  status_replicas(nats.url(0), &status);
  BOOST_TEST(status.exit == 1, status.output);
  BOOST_TEST(status.output.find("under-replicated: 1 replica, 3 wanted") != std::string::npos,
             status.output);

  cluster_node node(nats.url(0), "raiser");
  BOOST_TEST(status_replicas(nats.url(0)) == 3);
  BOOST_TEST(node.server->stderr_text().find("raised the replicas of the stream REFERRALD from 1 "
                                             "to 3") != std::string::npos,
             node.server->stderr_text());
  BOOST_TEST(eventually([&] { return metric(node, "referrald_cluster_stream_replicas") == "3"; }));
  BOOST_TEST(
      eventually([&] { return metric(node, "referrald_cluster_stream_replicas_current") == "3"; }));
  BOOST_TEST(metric(node, "referrald_cluster_stream_replicas_wanted") == "3");

  // A replica down: said in /readyz and the metrics, while the node goes on serving.
  nats.kill(2);
  std::string ready;
  // JetStream says a peer is gone some seconds after it went; the node looks every 5 s.
  BOOST_TEST(eventually(
                 [&] {
                   ready = http_client(node.server->port()).get("/readyz").body;
                   return ready.find("replica n3 is ") != std::string::npos;
                 },
                 30s),
             ready);
  BOOST_TEST(http_client(node.server->port()).get("/readyz").status == 200u);
  BOOST_TEST(metric(node, "referrald_cluster_stream_replicas_current") == "2");
  BOOST_TEST(node.client()->post("/passthrough-referrers?account_id=acme", body("x.com")).status ==
             201u);

  // More replicas than the cluster has servers: the node does not start, and says why.
  nats_cluster two(2);
  {
    store::cluster_options o;
    o.servers = {two.url(0), two.url(1)};
    o.node_name = "two";
    o.replicas = 1;
    auto log = store::cluster_log::open(o);
    BOOST_REQUIRE_MESSAGE(log.ok(), (log.ok() ? "" : log.err().message));
  }
  temp_dir dir;
  auto refused = run_command("timeout -s KILL 90 " + std::string(REFERRALD_BINARY),
                             "--listen 127.0.0.1:0 --data " + dir.path() + " --cluster " +
                                 two.urls() + " --cluster-replicas 3 --cluster-wait 5");
  BOOST_TEST(refused.exit == 1, refused.output);
  BOOST_TEST(refused.output.find("has 1 replica, fewer than the 3 wanted") != std::string::npos,
             refused.output);
  BOOST_TEST(status_replicas(two.url(0)) == 1);
}

BOOST_AUTO_TEST_SUITE_END()
