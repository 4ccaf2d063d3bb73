#pragma once

// The placement (interfaces/placement.hpp) of cluster mode: the owners of the cluster's
// members (cluster/cluster_membership.hpp) and writes relayed to them over NATS
// (cluster/cluster_forward.hpp), or over a peer link straight to the owner where both have
// one (cluster/peer_link.hpp). serve() joins the members and takes this node's relayed
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
  // The peer link (cluster/peer_link.hpp): the address and port it listens on ("" and 0:
  // none; the node's writes go over NATS only), and the "host:port" the other nodes reach it
  // at ("": the bound address; for 0.0.0.0 or ::, the host this node reaches NATS from).
  std::string peer_host;
  std::uint16_t peer_port = 0;
  std::string peer_advertise;
  // How long a peer address that could not be reached is passed over for NATS.
  std::chrono::milliseconds peer_unreachable_for{30000};
};

// `log` and `clock` must outlive the placement; `applied` says which position of the
// stream this node has applied (sent with each answer to a relayed write).
std::unique_ptr<interfaces::placement> make_cluster_placement(
    cluster_log& log, placement_options o, std::function<std::uint64_t()> applied,
    const domain::clock& clock = domain::system_clock());

}  // namespace referrald::cluster
