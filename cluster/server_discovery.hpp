#pragma once

// The NATS servers of the cluster as a cluster_log's client knows them: those given and those
// the servers advertise, each counted once however it is named (its size is the number of
// replicas a stream is made with when none is asked for), and what each server says of
// itself (cluster/nats_server_info.hpp), read at start and every minute and logged when
// first seen or changed. Included by .cpp files of cluster/ only.
//
// Owned by cluster_log's implementation. check_servers() and what it logged are the
// watchdog's (log_follower); every other call is thread-safe.

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "cluster/log_connection.hpp"
#include "cluster/nats_server_info.hpp"

namespace referrald::cluster {

struct server_discovery {
  explicit server_discovery(log_connection& c) : conn(c) {}

  log_connection& conn;

  mutable std::mutex names_mu;
  mutable std::map<std::string, std::string> server_names;  // URL -> the server it names

  // The server a URL names, as the lowest address its host resolves to and the port
  // ("nats://localhost:4222" and "nats://127.0.0.1:4222" are one server); the URL itself
  // when the host does not resolve. Cached.
  std::string server_of(const std::string& url) const;

  // The servers of the cluster this client knows: those given and those the servers
  // advertise, each counted once however it is named; at least one.
  int known_servers() const;

  // The most servers the cluster has told this client of: a server that goes down leaves
  // the count it advertises, never the number of replicas wanted.
  mutable std::atomic<int> most_known{0};

  int most_known_servers() const;

  // Waits (at most 2 s, and not past `deadline`) until the number of servers the cluster
  // advertises has held still for half a second.
  void settle_known_servers(std::chrono::steady_clock::time_point deadline);

  // The NATS servers' own versions, as each last said (read_nats_server_info): the servers
  // given and those the client discovered, read at start and every minute. Under
  // servers_mu; what was logged of each is the watchdog's.
  mutable std::mutex servers_mu;
  std::vector<nats_server_info> servers_seen;
  std::chrono::steady_clock::time_point servers_checked{};
  std::map<std::string, std::string> server_versions_logged;

  // Reads the version of every NATS server given or discovered (one at a time, half a
  // second each at most), keeps them for nats_servers(), and logs each server's version
  // when first seen or changed: a warning for one older than k_nats_recommended.
  void check_servers();

  // servers_seen, as last read.
  std::vector<nats_server_info> seen_servers() const;
};

}  // namespace referrald::cluster
