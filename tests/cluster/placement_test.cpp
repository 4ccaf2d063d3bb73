// The placement of cluster mode (cluster/cluster_placement.hpp) against the placement's
// contract (tests/interfaces/placement_suite.hpp), on three real NATS servers: each node
// opened has a cluster log of its own.

#include "cluster/cluster_placement.hpp"

#include <memory>
#include <string>
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
