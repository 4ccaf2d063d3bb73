#pragma once

// The events stream's replication as a cluster_log last saw it (cluster_log::
// replication_status()): the replicas it has and wants, those caught up and online, and what
// is wrong; a writer also raises the stream's replicas to the wanted number when it finds
// fewer (stream_admin::raise_replicas), and logs it. Included by .cpp files of cluster/ only.
//
// Owned by cluster_log's implementation. check_replication() runs in open() and then on the
// watchdog's thread (log_follower) every few seconds; status() is thread-safe.

#include <chrono>
#include <mutex>

#include "cluster/cluster_log.hpp"
#include "cluster/log_connection.hpp"
#include "cluster/stream_admin.hpp"

namespace referrald::cluster {

struct stream_replication {
  stream_replication(log_connection& c, stream_admin& a) : conn(c), admin(a) {}

  log_connection& conn;
  stream_admin& admin;

  mutable std::mutex replication_mu;
  cluster_log::replication replication;  // under replication_mu
  std::chrono::steady_clock::time_point replication_checked{};
  std::chrono::steady_clock::time_point raise_logged{};

  // Looks at the stream's replication, raises its replicas when fewer than wanted and this
  // client is a writer, and keeps what it saw for replication_status(). `raised_now` is set
  // when it raised them.
  domain::status check_replication(bool* raised_now = nullptr);

  // What the last check saw.
  cluster_log::replication status() const;
};

}  // namespace referrald::cluster
