#pragma once

// Which node owns which account (cluster mode, docs/cluster.md "Owners").
//
// Every scope of writes — an account, a brand's AI data, the API keys — hashes onto one
// of a fixed number of partitions, and every partition has one owner among the live
// nodes, chosen by rendezvous hashing: the node whose weight for the partition is the
// largest. Each node computes the same owners from the same live set, and when a node
// joins or leaves only the partitions it wins or held change hands.
//
//   scope      := "account/" account_id | "brand/" brand_id | "keys"
//   partition  := fnv1a64(scope) mod partitions
//   weight     := mix64(fnv1a64(node) xor ((partition + 1) * 0x9e3779b97f4a7c15))
//                 (mix64: the splitmix64 finalizer; ties go to the smaller node name)
//
// The live nodes are kept in a JetStream key-value bucket, the events stream's name +
// "_NODES" ("REFERRALD_NODES"): each node puts "node.<name>" every `heartbeat`, the bucket
// forgets a value after `ttl`, and every node watches the bucket. A node is live while it
// has put its key within the last `ttl` (JetStream's expiry of a value reaches no watcher,
// so each node times entries out itself), and leaves at once with leave(), which deletes
// its key. A node that can no longer take writes (its follower halted: membership_options::
// must_leave) leaves by itself within 200 ms, or does not join at all when that is so as it
// starts, and goes on watching the others. The number of partitions is the cluster's, fixed by
// the first node in the bucket "_CONFIG" (key "partitions", created only if absent): a node
// asked for another number logs it and uses the cluster's.
//
// A node's value is {"node": name, "since_ms": when it joined, "peer": "host:port"}, the
// last only when it takes writes over a peer link (cluster/peer_link.hpp); the link's secret
// is the cluster's too, made by the first node that needs it in the "_CONFIG" bucket (key
// "peer-secret", 64 hexadecimal digits, created only if absent).
//
// Owners only route writes (cluster/cluster_forward.hpp, http/server.cpp): every write stays fenced
// in the stream, so two nodes that both believe they own an account for a moment (a membership
// change on its way) write correctly, one of them a little slower.
//
// Thread-safe; owner_of() and owns() read a table swapped whole on each change, without
// a lock.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "domain/base/result.hpp"

namespace referrald::cluster {

class cluster_log;

struct membership_options {
  std::string node;               // this node's name (--node-name)
  std::uint32_t partitions = 64;  // asked for, when the cluster has no number yet
  std::chrono::milliseconds heartbeat{2000};
  std::chrono::milliseconds ttl{10000};
  std::string peer;  // this node's peer address ("host:port", cluster/peer_link.hpp), or none
  // With a peer address: called with the cluster's peer secret before this node's key is put
  // (so that the link checks hellos before any node can see its address).
  std::function<void(const std::string& secret)> before_joining;
  // Why this node can no longer be a member ("" while it can), asked every 200 ms: a reason
  // makes it leave() for good, saying why in the process log.
  std::function<std::string()> must_leave;
};

class cluster_membership {
 public:
  // The owners as they stand: one entry per partition, the owning node's name.
  struct table {
    std::vector<std::string> owner;  // by partition
    std::vector<std::string> nodes;  // the live nodes, sorted
    std::vector<bool> mine;          // by partition: owned by this node
  };

  // Joins: binds (or makes) the buckets, reads the cluster's number of partitions, puts
  // this node's key and reads the live set. unavailable when the cluster does not answer.
  static domain::result<std::unique_ptr<cluster_membership>> join(cluster_log& log,
                                                                  membership_options o);
  ~cluster_membership();  // leave()
  cluster_membership(const cluster_membership&) = delete;
  cluster_membership& operator=(const cluster_membership&) = delete;

  // A node's name as a member: its characters other than a-z A-Z 0-9 '-' '_' become '_'
  // (a key of the bucket and a token of a subject).
  static std::string member_name(std::string_view node);
  static std::uint32_t partition_of(std::string_view scope, std::uint32_t partitions);
  std::uint32_t partition_of(std::string_view scope) const {
    return partition_of(scope, partitions_);
  }
  std::uint32_t partitions() const { return partitions_; }
  // The peer address a live node put in its value ("" when it put none: an earlier release,
  // or a node without a peer link), and the cluster's peer secret.
  std::string peer_of(const std::string& node) const;
  // Whether `address` may be a member's peer address: 1 to 300 of a-z A-Z 0-9 . : - _ [ ].
  static bool peer_address_ok(std::string_view address);
  const std::string& peer_secret() const { return peer_secret_; }
  const std::string& node() const { return options_.node; }  // as a member

  // The current owners.
  std::shared_ptr<const table> owners() const { return table_.load(); }
  bool owns(std::uint32_t partition) const;

  // The owner of `partition` among `nodes` (rendezvous hashing; "" when there is none).
  static std::string owner_among(const std::vector<std::string>& nodes, std::uint32_t partition);

  // Called after each change of the owners, on the membership's thread (or leave()'s),
  // and once at once with the current table; one call at a time; must not block.
  void on_change(std::function<void(const table&)> fn);

  // Deletes this node's key (the others drop it at once) and stops putting it. From then
  // on this node owns nothing. Idempotent.
  void leave();

 private:
  struct impl;
  cluster_membership(std::unique_ptr<impl> p, membership_options o, std::uint32_t partitions,
                     std::string peer_secret);
  void publish(std::vector<std::string> nodes);

  std::unique_ptr<impl> impl_;
  membership_options options_;
  std::uint32_t partitions_;
  std::string peer_secret_;
  std::mutex publish_mu_;  // one change of the owners at a time
  std::atomic<std::shared_ptr<const table>> table_;
};

}  // namespace referrald::cluster
