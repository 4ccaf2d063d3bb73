// A node's copy that differs from the cluster's stream: the node finds it (its follower
// confirms what it applied with the stream's leader), stops with exit status 75, and,
// started again, keeps the old copy aside and fills a new one from the stream. A write
// published again without its fence is not such a difference.

#include <nats/nats.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>

#include "tests/cluster/nodes.hpp"

using namespace referrald::testing;

BOOST_AUTO_TEST_SUITE(node_copies)

BOOST_AUTO_TEST_CASE(a_node_whose_copy_differs_from_the_stream_fills_a_new_one) {
  nats_cluster nats(1);
  cluster_node a(nats, "a");
  for (const char* domain : {"one.example", "two.example", "three.example"}) {
    BOOST_REQUIRE_EQUAL(
        a.client()
            ->post("/passthrough-referrers?account_id=acme",
                   std::string(R"({"domain":")") + domain + R"(","utm_source":"a"})")
            .status,
        201u);
  }
  // What node a applied, confirmed with the stream's leader.
  BOOST_REQUIRE(eventually(
      [&] {
        return metric(a, "referrald_cluster_confirmed_seq") ==
               metric(a, "referrald_cluster_applied_seq");
      },
      10s));
  BOOST_TEST(a.client()->get("/readyz").status == 200u);

  // The server's stream is lost and made again by another node, with other writes at the
  // same sequence numbers: what node a applied is no longer the stream's.
  nats.wipe(0);
  cluster_node other(nats, "other");
  // Node a may own acme still. Where it took the write before it found its copy differs,
  // its fenced publish is refused and it answers 503 (retry): nothing was written, and once
  // it has stopped taking writes the entry node makes the write itself.
  http_reply made;
  BOOST_REQUIRE_MESSAGE(eventually(
                            [&] {
                              made = other.client()->post(
                                  "/passthrough-referrers?account_id=acme",
                                  R"({"domain":"elsewhere.example","utm_source":"other"})");
                              return made.status != 503u;
                            },
                            20s),
                        made.body);
  BOOST_REQUIRE_MESSAGE(made.status == 201u, made.status << " " << made.body);

  std::optional<int> exit;
  BOOST_TEST(eventually(
      [&] {
        exit = a.server->exited();
        return exit.has_value();
      },
      20s));
  BOOST_REQUIRE(exit.has_value());
  BOOST_TEST(WIFEXITED(*exit));
  BOOST_TEST(WEXITSTATUS(*exit) == 75);
  BOOST_TEST(a.server->stderr_text().find("its copy differs from the stream") != std::string::npos);

  a.restart();
  BOOST_TEST(a.server->stderr_text().find("filling a new copy from the stream") !=
             std::string::npos);
  int kept = 0;
  for (const auto& entry : std::filesystem::directory_iterator(a.dir.path()))
    kept += entry.path().filename().string().starts_with("diverged-") ? 1 : 0;
  BOOST_TEST(kept == 1);
  auto list = a.client()->get("/passthrough-referrers?account_id=acme");
  BOOST_TEST(list.status == 200u);
  BOOST_TEST(list.body.find("elsewhere.example") != std::string::npos, list.body);
  BOOST_TEST(list.body.find("one.example") == std::string::npos, list.body);
  BOOST_TEST(list.body == other.client()->get("/passthrough-referrers?account_id=acme").body);
  BOOST_TEST(a.client()->get("/readyz").status == 200u);
}

// A write published again without its fence (by a client with publish rights on the stream's
// subjects; no node does) holds events every node applied already: the nodes apply nothing of
// it, stay ready, and the account's next writes pass the stream's fence, which is at it now;
// a node that fills its copy later does the same.
BOOST_AUTO_TEST_CASE(a_write_published_again_is_not_applied_twice_and_writes_go_on) {
  nats_cluster nats(1);
  cluster_node a(nats, "a");
  cluster_node b(nats, "b");
  auto create = [](cluster_node& n, const std::string& domain) {
    return n.client()
        ->post("/passthrough-referrers?account_id=acme",
               R"({"domain":")" + domain + R"(","utm_source":"s"})")
        .status;
  };
  BOOST_REQUIRE_EQUAL(create(a, "one.example"), 201u);

  // The account's last message, published again as it is, without any header.
  natsConnection* nc = nullptr;
  BOOST_REQUIRE(natsConnection_ConnectTo(&nc, nats.url(0).c_str()) == NATS_OK);
  jsCtx* js = nullptr;
  BOOST_REQUIRE(natsConnection_JetStream(&js, nc, nullptr) == NATS_OK);
  natsMsg* last = nullptr;
  BOOST_REQUIRE(js_GetLastMsg(&last, js, "REFERRALD", "referrald.events.acme", nullptr, nullptr) ==
                NATS_OK);
  jsPubAck* ack = nullptr;
  BOOST_REQUIRE(js_Publish(&ack, js, "referrald.events.acme", natsMsg_GetData(last),
                           natsMsg_GetDataLength(last), nullptr, nullptr) == NATS_OK);
  auto again = static_cast<double>(ack->Sequence);
  jsPubAck_Destroy(ack);
  natsMsg_Destroy(last);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);

  for (auto* n : {&a, &b}) {
    BOOST_TEST(eventually(
        [&] { return metric_value(*n, "referrald_cluster_applied_seq") >= again; }, 10s));
    BOOST_TEST(
        n->server->stderr_text().find("repeats events 1..1 of account acme") != std::string::npos,
        n->server->stderr_text());
  }
  BOOST_REQUIRE_EQUAL(create(a, "two.example"), 201u);
  BOOST_REQUIRE_EQUAL(create(b, "three.example"), 201u);
  for (auto* n : {&a, &b}) {
    BOOST_TEST(!n->server->exited().has_value());
    BOOST_TEST(n->client()->get("/readyz").status == 200u);
    auto list = n->client()->get("/passthrough-referrers?account_id=acme");
    BOOST_TEST(list.status == 200u);
    for (const char* domain : {"one.example", "two.example", "three.example"})
      BOOST_TEST(list.body.find(domain) != std::string::npos, list.body);
    BOOST_TEST(list.body.find("\"total\":3") != std::string::npos, list.body);
  }
  // A node filling its copy from the stream (every message at once) applies the repeat once.
  cluster_node c(nats, "c");
  BOOST_TEST(eventually([&] { return c.client()->get("/readyz").status == 200u; }, 20s));
  BOOST_TEST(c.client()->get("/passthrough-referrers?account_id=acme").body ==
             a.client()->get("/passthrough-referrers?account_id=acme").body);
  BOOST_TEST(c.server->stderr_text().find("repeats events 1..1 of account acme") !=
             std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
