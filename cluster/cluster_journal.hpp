#pragma once

// The journal (store/journal.hpp) of cluster mode: the cluster's NATS JetStream stream,
// written through the committer (an account's events) and the record publisher (records),
// and read back through this node's copy of it (`cache`, `copy`: the events the follower
// applied).

#include <memory>

#include "interfaces/journal.hpp"

namespace referrald::store {
class event_log;
}  // namespace referrald::store

namespace referrald::cluster {

class cluster_cache;
class cluster_committer;
class cluster_log;
class record_publisher;

// Every argument must outlive the journal.
std::unique_ptr<interfaces::journal> make_cluster_journal(cluster_log& stream,
                                                          cluster_committer& committer,
                                                          record_publisher& records,
                                                          const cluster_cache& cache,
                                                          const store::event_log& copy);

}  // namespace referrald::cluster
