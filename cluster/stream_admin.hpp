#pragma once

// The administration of a cluster_log's two streams (cluster/cluster_log.hpp): the events
// stream and the Idempotency-Key stream made with their configuration when missing, their
// replicas (those asked for, or the cluster's size) raised when they have fewer, their
// leaders moved off (step_down) and the events stream's state as the cluster reports it.
// Included by .cpp files of cluster/ only.
//
// Owned by cluster_log's implementation; thread-safe (each call is requests to the cluster).

#include <chrono>
#include <string>
#include <vector>

#include "cluster/log_connection.hpp"
#include "cluster/server_discovery.hpp"

namespace referrald::cluster {

struct stream_admin {
  stream_admin(log_connection& c, server_discovery& s) : conn(c), servers(s) {}

  log_connection& conn;
  server_discovery& servers;

  // cluster_options::replicas, or the cluster's size (at most 3).
  int wanted_replicas() const;
  // Where the wanted number comes from, for messages.
  std::string replicas_basis() const;

  // Raises the stream's replicas to `wanted` (the rest of its configuration kept). An
  // error naming both numbers when the cluster cannot place them.
  domain::status raise_replicas(const jsStreamConfig& current, int wanted);

  // A stream of ours on `subjects` (one pattern; both must outlive the config): file
  // storage, the replicas wanted, deletes and purges denied, messages up to 8 MiB.
  jsStreamConfig stream_config(const std::string& name, const char* (&subjects)[1]);

  // The name of the Idempotency-Key stream: the events stream's + "_IDEM".
  std::string claims_stream() const;

  // The Idempotency-Key stream (cluster_log::last_claim): made when missing, with the
  // replicas wanted, raised when it has fewer.
  domain::status ensure_claims_stream();

  // One attempt, waiting at most `wait` for each answer: ok once the stream exists and
  // has a leader to take writes.
  domain::status ensure_stream(std::chrono::milliseconds wait);

  // cluster_log::step_down() and cluster_log::status().
  domain::result<std::vector<cluster_log::stepdown>> step_down(std::chrono::milliseconds wait);
  domain::result<cluster_log::stream_status> status();
};

}  // namespace referrald::cluster
