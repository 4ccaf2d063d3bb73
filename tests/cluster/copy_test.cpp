// A node's copy that differs from the cluster's stream: the node finds it (its follower
// confirms what it applied with the stream's leader), stops with exit status 75, and,
// started again, keeps the old copy aside and fills a new one from the stream.

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
  BOOST_REQUIRE_EQUAL(other.client()
                          ->post("/passthrough-referrers?account_id=acme",
                                 R"({"domain":"elsewhere.example","utm_source":"other"})")
                          .status,
                      201u);

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

BOOST_AUTO_TEST_SUITE_END()
