// The retry store of cluster mode (cluster/retry_stream.hpp) against the retry store's
// contract (tests/interfaces/retry_store_suite.hpp), on three real NATS servers: each store
// opened is another node, with a cluster log of its own.

#include "cluster/retry_stream.hpp"

#include <memory>
#include <vector>

#include "tests/cluster/helpers.hpp"
#include "tests/interfaces/retry_store_suite.hpp"

namespace {

using namespace referrald;

struct stream_retry_harness {
  testing::test_clock clock{domain::now_ms()};
  std::vector<std::unique_ptr<cluster::cluster_log>> logs;
  bool shared_by_nodes = true;

  std::unique_ptr<interfaces::retry_store> open() {
    logs.push_back(testing::open_log(testing::shared_cluster()));
    return cluster::make_retry_stream(*logs.back(), clock);
  }
};

}  // namespace

REFERRALD_RETRY_STORE_SUITE(retry_stream_contract, stream_retry_harness)
