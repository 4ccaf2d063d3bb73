#pragma once

// The placement (interfaces/placement.hpp) of cluster mode: the owners of the cluster's
// members (cluster/cluster_membership.hpp) and writes relayed to them over NATS
// (cluster/cluster_forward.hpp). serve() joins the members and takes this node's relayed
// writes; an owner that did not take a write is passed over for 3 s (gone, stopping, or cut
// off from NATS with its subscription still standing), so that its writes are made here at
// once instead of after the take bound each.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "domain/base/clock.hpp"
#include "interfaces/placement.hpp"

namespace referrald::cluster {

class cluster_log;

struct placement_options {
  std::string node;               // this node's name (--node-name)
  std::uint32_t partitions = 64;  // for a cluster that has no number yet
  std::chrono::milliseconds heartbeat{2000};
  std::chrono::milliseconds ttl{10000};
  std::chrono::milliseconds pass_over{3000};  // an owner that did not take a write
};

// `log` and `clock` must outlive the placement; `applied` says which position of the
// stream this node has applied (sent with each answer to a relayed write).
std::unique_ptr<interfaces::placement> make_cluster_placement(
    cluster_log& log, placement_options o, std::function<std::uint64_t()> applied,
    const domain::clock& clock = domain::system_clock());

}  // namespace referrald::cluster
