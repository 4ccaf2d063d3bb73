// The placement of cluster mode (cluster/cluster_placement.hpp) against the placement's
// contract (tests/interfaces/placement_suite.hpp), on three real NATS servers: each node
// opened has a cluster log of its own.

#include "cluster/cluster_placement.hpp"

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/cluster/helpers.hpp"
#include "tests/interfaces/placement_suite.hpp"

namespace {

using namespace referrald;

struct cluster_placement_harness {
  bool shared_by_nodes = true;
  std::vector<std::unique_ptr<cluster::cluster_log>> logs;

  std::unique_ptr<interfaces::placement> open(const std::string& node) {
    logs.push_back(testing::open_log(testing::shared_cluster()));
    cluster::placement_options o;
    o.node = node;
    o.partitions = 16;
    return cluster::make_cluster_placement(*logs.back(), o, [] { return std::uint64_t{0}; });
  }
};

}  // namespace

REFERRALD_PLACEMENT_SUITE(cluster_placement_contract, cluster_placement_harness)

BOOST_AUTO_TEST_SUITE(cluster_placement_forwarding)

// A write that runs at its owner longer than its sender's bound of silence is still
// answered: the owner says "taken" at once and "working" every second while it runs.
BOOST_AUTO_TEST_CASE(a_write_running_long_at_its_owner_is_taken_and_waited_for) {
  cluster_placement_harness h;
  auto a = h.open("long-a");
  auto b = h.open("long-b");
  struct joined {
    std::thread t;
    ~joined() {
      if (t.joinable()) t.join();
    }
  } running;
  auto served =
      b->serve([&](interfaces::placement::incoming in, interfaces::placement::answer_fn answer) {
        if (in.request == "POST /quick") return answer("quick");
        running.t = std::thread([answer = std::move(answer)] {
          testing::hold_fault(std::chrono::milliseconds(3500));  // the write's own time
          answer("slow");
        });
      });
  BOOST_REQUIRE(served.ok());
  BOOST_REQUIRE(
      a->serve([](interfaces::placement::incoming, interfaces::placement::answer_fn answer) {
         answer("a");
       }).ok());
  // Relays go out once a has joined the members and seen b.
  BOOST_REQUIRE(
      testing::eventually([&] { return a->others() == std::vector<std::string>{b->self()}; },
                          std::chrono::seconds(15)));
  auto relay = [&](const std::string& request) {
    auto done = std::make_shared<std::promise<interfaces::placement::relayed>>();
    auto f = done->get_future();
    a->relay(b->self(), request, "192.0.2.7:4000", std::chrono::milliseconds(500),
             std::chrono::milliseconds(1500),
             [done](interfaces::placement::relayed r) { done->set_value(std::move(r)); });
    BOOST_REQUIRE(f.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
    return f.get();
  };
  auto quick = relay("POST /quick");
  BOOST_TEST((quick.how == interfaces::placement::outcome::answered));
  BOOST_TEST(quick.response == "quick");
  auto slow = relay("POST /slow");
  running.t.join();
  BOOST_TEST((slow.how == interfaces::placement::outcome::answered),
             "outcome " << static_cast<int>(slow.how));
  BOOST_TEST(slow.response == "slow");
}

BOOST_AUTO_TEST_SUITE_END()
