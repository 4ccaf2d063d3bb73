// What cluster mode guarantees when things happen on several nodes at once, each shown with
// two or three real nodes on real nats-server processes: the stream holds the replicas the
// operator wants, whatever the URLs a node or referralctl was given.

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "tests/cluster/helpers.hpp"
#include "tests/cluster/nodes.hpp"
#include "tests/support/command.hpp"
#include "tests/support/eventually.hpp"

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

// Runs `first` and `second` on two threads released at the same moment; their answers.
template <class First, class Second>
std::pair<http_reply, http_reply> at_once(First first, Second second) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  auto on_a = std::async(std::launch::async, [&] {
    ++ready;
    while (!go.load())
      std::this_thread::yield();
    return first();
  });
  auto on_b = std::async(std::launch::async, [&] {
    ++ready;
    while (!go.load())
      std::this_thread::yield();
    return second();
  });
  while (ready.load() < 2)
    std::this_thread::yield();
  go = true;
  return {on_a.get(), on_b.get()};
}

// A client of `node` with `secret`, its connection made (so that a request sent later
// starts at once).
std::unique_ptr<http_client> connected(cluster_node& node, const std::string& secret) {
  auto c = std::make_unique<http_client>(node.server->port(), secret);
  c->get("/healthz");
  return c;
}

// Creates a key through `node` and waits until `other` knows it; its id and secret.
std::pair<std::string, std::string> make_key(cluster_node& node, cluster_node& other,
                                             const std::string& role, const std::string& name,
                                             const std::string& with = admin_secret) {
  auto made = http_client(node.server->port(), with)
                  .post("/api-keys", R"({"name":")" + name + R"(","role":")" + role +
                                         R"(","accounts":["*"],"brands":["*"]})");
  BOOST_REQUIRE_MESSAGE(made.status == 201u, made.body);
  auto d = made.json();
  std::string id = std::to_string(d["data"]["id"].GetInt64());
  std::string secret = d["data"]["secret"].GetString();
  BOOST_REQUIRE(eventually([&] {
    return http_client(other.server->port(), with).get("/api-keys/" + id).status == 200u;
  }));
  return {id, secret};
}

// Whether `secret` is refused (401) by both nodes, now and still a moment later.
bool refused_everywhere(cluster_node& a, cluster_node& b, const std::string& secret) {
  auto refused = [&] {
    return http_client(a.server->port(), secret).get("/api-keys/me").status == 401u &&
           http_client(b.server->port(), secret).get("/api-keys/me").status == 401u;
  };
  if (!eventually(refused)) return false;
  std::this_thread::sleep_for(500ms);
  return refused();
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
  auto verified = verify_eventually(nats.url(1));
  BOOST_TEST(verified.exit == 0, verified.output);
  BOOST_TEST_MESSAGE("writes refused during the election: " << wa.refused + wb.refused);
}

// Nodes started on a stream of fewer replicas used it without a word.
BOOST_AUTO_TEST_CASE(a_stream_of_too_few_replicas_is_raised_or_the_node_does_not_start) {
  nats_cluster nats(3);
  {
    cluster::cluster_options o;
    o.servers = {nats.url(0)};
    o.node_name = "one-replica";
    o.replicas = 1;
    auto log = cluster::cluster_log::open(o);
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
    cluster::cluster_options o;
    o.servers = {two.url(0), two.url(1)};
    o.node_name = "two";
    o.replicas = 1;
    auto log = cluster::cluster_log::open(o);
    BOOST_REQUIRE_MESSAGE(log.ok(), (log.ok() ? "" : log.err().message));
  }
  temp_dir dir;
  auto refused = run_command("timeout -s KILL 90 " + std::string(REFERRALD_BINARY),
                             "--listen 127.0.0.1:0 --data " + dir.path() + " --cluster " +
                                 two.urls() + " --cluster-replicas 3 --cluster-wait 5");
  BOOST_TEST(refused.exit == 1, refused.output);
  BOOST_TEST(refused.output.find("has 1 replica, fewer than the 3 wanted") != std::string::npos,
             refused.output);
  // JetStream's "no suitable peers" (10005) is told in an operator's terms: where to see
  // which servers the meta group counts.
  BOOST_TEST(refused.output.find("JetStream error 10005") != std::string::npos, refused.output);
  BOOST_TEST(
      refused.output.find("JetStream found no 3 servers to place it on") != std::string::npos,
      refused.output);
  BOOST_TEST(refused.output.find("/jsz") != std::string::npos, refused.output);
  BOOST_TEST(status_replicas(two.url(0)) == 1);
}

// A key revoked on one node while another renamed it was working again on both nodes in 7
// of 8 tries: the rename wrote the whole key record from a copy without the revocation.
BOOST_AUTO_TEST_CASE(key_changes_on_two_nodes_at_once_never_undo_each_other) {
  nats_cluster nats(3);
  cluster_node a(nats, "a"), b(nats, "b");
  int renamed = 0, rotated = 0;
  for (int round = 0; round < 8; ++round) {
    auto [id, secret] = make_key(a, b, "viewer", "k" + std::to_string(round));
    auto ca = connected(a, admin_secret), cb = connected(b, admin_secret);
    bool rename = round % 2 == 0;
    auto [revoked, other] =
        at_once([&] { return ca->del("/api-keys/" + id); },
                [&] {
                  return rename ? cb->patch("/api-keys/" + id, R"({"name":"renamed"})")
                                : cb->post("/api-keys/" + id + "/rotate", "{}");
                });
    BOOST_TEST(revoked.status == 204u, revoked.body);
    BOOST_TEST((other.status == 200u || other.status == 404u), other.status << " " << other.body);
    if (other.status == 200u) ++(rename ? renamed : rotated);
    // Revoked everywhere, the secret and (after a rotation) the new one alike.
    BOOST_TEST(refused_everywhere(a, b, secret), "round " << round);
    if (other.status == 200u && !rename) {
      BOOST_TEST(refused_everywhere(a, b, other.json()["data"]["secret"].GetString()));
    }
    BOOST_TEST(a.client()->get("/api-keys/" + id).status == 404u);
    BOOST_TEST(b.client()->get("/api-keys/" + id).status == 404u);
  }
  BOOST_TEST_MESSAGE("changes made before the revocation: " << renamed << " renames, " << rotated
                                                            << " rotations");

  // Two renames from the same version (If-Match): one is made, the other refused.
  auto [id, secret] = make_key(a, b, "viewer", "both");
  std::string tag = a.client()->get("/api-keys/" + id).header("etag");
  auto ca = connected(a, admin_secret), cb = connected(b, admin_secret);
  auto [one, two] = at_once(
      [&] {
        return ca->request("PATCH", "/api-keys/" + id, R"({"name":"from-a"})", {{"If-Match", tag}});
      },
      [&] {
        return cb->request("PATCH", "/api-keys/" + id, R"({"name":"from-b"})", {{"If-Match", tag}});
      });
  BOOST_TEST(
      ((one.status == 200u && two.status == 412u) || (one.status == 412u && two.status == 200u)),
      one.status << " " << two.status);
  std::string winner = one.status == 200u ? "from-a" : "from-b";
  BOOST_TEST(eventually([&] {
    return b.client()->get("/api-keys/" + id).body.find(winner) != std::string::npos &&
           a.client()->get("/api-keys/" + id).body.find(winner) != std::string::npos;
  }));

  // The use of a key is recorded in cluster mode too, and seen on every node.
  BOOST_TEST(http_client(a.server->port(), secret).get("/api-keys/me").status == 200u);
  BOOST_TEST(eventually([&] {
    return b.client()->get("/api-keys/" + id).body.find(R"("last_used_at":null)") ==
           std::string::npos;
  }));
}

// Two nodes revoking the last two full admin keys at the same moment both answered 204, and
// nobody could administer the cluster any more.
BOOST_AUTO_TEST_CASE(the_last_full_admin_key_survives_two_revocations_at_once) {
  nats_cluster nats(3);
  cluster_node a(nats, "a"), b(nats, "b");
  std::string first_id = "1", first_secret = admin_secret;
  for (int round = 0; round < 4; ++round) {
    auto [second_id, second_secret] =
        make_key(a, b, "admin", "admin" + std::to_string(round), first_secret);
    // Each revokes the other's key, with its own.
    auto ca = connected(a, first_secret), cb = connected(b, second_secret);
    auto [x, y] = at_once([&] { return ca->del("/api-keys/" + second_id); },
                          [&] { return cb->del("/api-keys/" + first_id); });
    // Exactly one revocation is made. The other is refused as the last full admin key's
    // (409), or its caller was revoked before it was read (401).
    auto lost = [](unsigned status) {
      return status == 409u || status == 401u;
    };
    BOOST_TEST(((x.status == 204u && lost(y.status)) || (lost(x.status) && y.status == 204u)),
               "round " << round << ": " << x.status << " " << x.body << " / " << y.status << " "
                        << y.body);
    // The survivor administers both nodes.
    if (y.status == 204u) {
      first_id = second_id;
      first_secret = second_secret;
    }
    BOOST_TEST(eventually([&] {
      return http_client(a.server->port(), first_secret).get("/api-keys").status == 200u &&
             http_client(b.server->port(), first_secret).get("/api-keys").status == 200u;
    }));
  }
}

// Deleting one connection on two nodes at once: one 204, one 404; a connection created on
// one node while another deletes a connection of the brand is kept.
BOOST_AUTO_TEST_CASE(connection_changes_on_two_nodes_at_once_never_undo_each_other) {
  nats_cluster nats(3);
  cluster_node a(nats, "a"), b(nats, "b");
  auto ca = connected(a, admin_secret), cb = connected(b, admin_secret);
  for (int round = 0; round < 4; ++round) {
    auto made = ca->post("/42/ai-referrals/connections", R"({"name":"c","source_tool":"ga4"})");
    BOOST_REQUIRE(made.status == 201u);
    std::string path =
        "/42/ai-referrals/connections/" + std::string(made.json()["data"]["id"].GetString());
    BOOST_REQUIRE(eventually([&] { return cb->get(path).status == 200u; }));
    auto [x, y] = at_once([&] { return ca->del(path); }, [&] { return cb->del(path); });
    BOOST_TEST(((x.status == 204u && y.status == 404u) || (x.status == 404u && y.status == 204u)),
               x.status << " " << y.status);
    BOOST_TEST(
        eventually([&] { return ca->get(path).status == 404u && cb->get(path).status == 404u; }));
  }
  auto kept = ca->post("/42/ai-referrals/connections", R"({"name":"kept","source_tool":"ga4"})");
  auto gone = ca->post("/42/ai-referrals/connections", R"({"name":"gone","source_tool":"ga4"})");
  std::string gone_path =
      "/42/ai-referrals/connections/" + std::string(gone.json()["data"]["id"].GetString());
  BOOST_REQUIRE(eventually([&] { return cb->get(gone_path).status == 200u; }));
  auto [made, deleted] = at_once(
      [&] {
        return ca->post("/42/ai-referrals/connections", R"({"name":"new","source_tool":"ga4"})");
      },
      [&] { return cb->del(gone_path); });
  BOOST_TEST(made.status == 201u, made.body);
  BOOST_TEST(deleted.status == 204u, deleted.body);
  std::string kept_path =
      "/42/ai-referrals/connections/" + std::string(kept.json()["data"]["id"].GetString());
  std::string new_path =
      "/42/ai-referrals/connections/" + std::string(made.json()["data"]["id"].GetString());
  BOOST_TEST(eventually([&] {
    return ca->get(new_path).status == 200u && cb->get(new_path).status == 200u &&
           ca->get(kept_path).status == 200u && cb->get(gone_path).status == 404u;
  }));
}

// A connection created or deleted through either node is read there as changed at once: a
// node that relays the change to the brand's owner answers once the connections it serves
// reads from hold it, not only its copy of the stream.
BOOST_AUTO_TEST_CASE(a_connection_changed_through_either_node_is_read_there_at_once) {
  nats_cluster nats(3);
  cluster_node a(nats, "a"), b(nats, "b");
  auto ca = connected(a, admin_secret), cb = connected(b, admin_secret);
  int unseen = 0;
  for (int round = 0; round < 80; ++round) {
    auto& c = round % 2 == 0 ? ca : cb;
    auto made = c->post("/42/ai-referrals/connections", R"({"name":"x","source_tool":"ga4"})");
    BOOST_REQUIRE_MESSAGE(made.status == 201u, made.body);
    std::string path =
        "/42/ai-referrals/connections/" + std::string(made.json()["data"]["id"].GetString());
    if (auto got = c->get(path); got.status != 200u) {
      ++unseen;
      BOOST_TEST_MESSAGE("round " << round << ", created: " << got.status << " " << got.body);
    }
    auto gone = c->del(path);
    BOOST_REQUIRE_MESSAGE(gone.status == 204u, gone.body);
    if (auto got = c->get(path); got.status != 404u) {
      ++unseen;
      BOOST_TEST_MESSAGE("round " << round << ", deleted: " << got.status << " " << got.body);
    }
  }
  BOOST_TEST(unseen == 0);
}

// The same Idempotency-Key sent to node A and then node B created two keys (two
// connections): behind a load balancer a retry lands on any node.
BOOST_AUTO_TEST_CASE(an_idempotency_key_holds_across_nodes) {
  nats_cluster nats(3);
  cluster_node a(nats, "a"), b(nats, "b");
  auto ca = connected(a, admin_secret), cb = connected(b, admin_secret);
  const std::string key_body =
      R"({"name":"retried","role":"viewer","accounts":["acme"],"brands":[42]})";
  auto first = ca->request("POST", "/api-keys", key_body, {{"Idempotency-Key", "retry-1"}});
  BOOST_REQUIRE_MESSAGE(first.status == 201u, first.body);
  auto again = cb->request("POST", "/api-keys", key_body, {{"Idempotency-Key", "retry-1"}});
  BOOST_TEST(again.status == 201u, again.body);
  BOOST_TEST(again.header("idempotent-replayed") == "true");
  BOOST_TEST(again.json()["data"]["id"].GetInt64() == first.json()["data"]["id"].GetInt64());
  auto listed = ca->get("/api-keys?q=retried");
  BOOST_TEST(listed.json()["data"]["keys"].Size() == 1u, listed.body);
  // Another request with the same key: 409, on either node.
  auto other = cb->request("POST", "/api-keys",
                           R"({"name":"other","role":"viewer","accounts":["acme"],"brands":[42]})",
                           {{"Idempotency-Key", "retry-1"}});
  BOOST_TEST(other.status == 409u, other.body);

  // Connections, and the same key sent to both nodes at the same moment: one is made.
  const std::string conn_body = R"({"name":"GA4","source_tool":"ga4"})";
  for (int round = 0; round < 4; ++round) {
    std::string k = "conn-" + std::to_string(round);
    auto [x, y] = at_once(
        [&] {
          return ca->request("POST", "/42/ai-referrals/connections", conn_body,
                             {{"Idempotency-Key", k}});
        },
        [&] {
          return cb->request("POST", "/42/ai-referrals/connections", conn_body,
                             {{"Idempotency-Key", k}});
        });
    // One made it; the other got its answer again, or 409 while it was being made.
    BOOST_TEST((x.status == 201u || x.status == 409u), x.status << " " << x.body);
    BOOST_TEST((y.status == 201u || y.status == 409u), y.status << " " << y.body);
    BOOST_TEST((x.status == 201u || y.status == 201u));
    if (x.status == 409u) BOOST_TEST(x.header("retry-after") == "1");
    if (y.status == 409u) BOOST_TEST(y.header("retry-after") == "1");
    if (x.status == 201u && y.status == 201u) {
      BOOST_TEST(x.json()["data"]["id"].GetString() ==
                 std::string(y.json()["data"]["id"].GetString()));
    }
  }
  auto connections = ca->get("/42/ai-referrals/connections");
  BOOST_TEST(connections.json()["data"]["total"].GetInt() == 4, connections.body);

  // A refused request's answer is kept too, and given again by the other node.
  auto bad = ca->request("POST", "/api-keys", R"({"name":""})", {{"Idempotency-Key", "bad-1"}});
  BOOST_TEST(bad.status == 400u);
  auto bad_again =
      cb->request("POST", "/api-keys", R"({"name":""})", {{"Idempotency-Key", "bad-1"}});
  BOOST_TEST(bad_again.status == 400u);
  BOOST_TEST(bad_again.header("idempotent-replayed") == "true");
}

// A node whose TCP connection to its NATS server stays open but carries nothing (a
// partition that drops packets) answered writes 503 and kept /readyz at 200 for as long
// as the silence lasted, so a load balancer went on sending it writes.
BOOST_AUTO_TEST_CASE(a_node_whose_link_goes_silent_is_not_ready_within_seconds) {
  nats_cluster_options o;
  o.proxy_clients = true;
  nats_cluster nats(3, o);
  // Node a reaches the cluster through one proxy only; node b directly.
  cluster_node a(nats.proxied_url(0), "a"), b(nats, "b");
  auto ca = a.client(), cb = b.client();
  BOOST_REQUIRE(ca->post("/passthrough-referrers?account_id=acme", body("before.com")).status ==
                201u);
  BOOST_REQUIRE(eventually([&] { return metric(a, "referrald_cluster_connected") == "1"; }));

  nats.client_proxy(0).drop();
  auto dropped = std::chrono::steady_clock::now();
  BOOST_TEST(eventually([&] { return ca->get("/readyz").status == 503u; }, 8s));
  auto noticed = std::chrono::steady_clock::now() - dropped;
  BOOST_TEST_MESSAGE("silent link noticed after "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(noticed).count()
                     << " ms");
  auto ready = ca->get("/readyz");
  BOOST_TEST(ready.body.find("not connected to the cluster") != std::string::npos, ready.body);
  BOOST_TEST(metric(a, "referrald_cluster_connected") == "0");
  // Reads go on from the node's copy; writes are refused, never acknowledged.
  BOOST_TEST(ca->get("/passthrough-referrers?account_id=acme").status == 200u);
  auto refused = ca->post("/passthrough-referrers?account_id=acme", body("during.com"));
  BOOST_TEST(refused.status == 503u, refused.body);
  // The other node writes on.
  BOOST_TEST(cb->post("/passthrough-referrers?account_id=acme", body("other.com")).status == 201u);
  // Still not ready while the silence lasts.
  hold_fault(3s);
  BOOST_TEST(ca->get("/readyz").status == 503u);

  nats.client_proxy(0).pass();
  BOOST_TEST(eventually([&] { return ca->get("/readyz").status == 200u; }, 20s),
             ca->get("/readyz").body);
  BOOST_TEST(metric(a, "referrald_cluster_connected") == "1");
  expect_all_on(a, "acme", {"before.com", "other.com"});
  BOOST_TEST(ca->post("/passthrough-referrers?account_id=acme", body("after.com")).status == 201u);
  expect_all_on(b, "acme", {"before.com", "other.com", "after.com"});
}

BOOST_AUTO_TEST_SUITE_END()
