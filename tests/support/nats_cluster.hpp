#pragma once

// A real NATS cluster for tests: N nats-server processes with JetStream, their client and
// cluster-route ports free loopback ports, their data in a temporary directory. Started
// and stopped by PID; each server can be killed and restarted on its own.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/support/temp_dir.hpp"

namespace referrald::testing {

class nats_cluster {
 public:
  // Starts `n` servers (1 to 5) and waits until each accepts connections.
  explicit nats_cluster(int n);
  ~nats_cluster();
  nats_cluster(const nats_cluster&) = delete;
  nats_cluster& operator=(const nats_cluster&) = delete;

  int size() const { return static_cast<int>(servers_.size()); }
  // nats://127.0.0.1:PORT of server i.
  std::string url(int i) const;
  // Every server's URL, comma-separated (the form of --cluster).
  std::string urls() const;

  // SIGKILL of server i (its data stays); restart() starts it again on the same ports.
  void kill(int i);
  void restart(int i);
  bool running(int i) const { return servers_[static_cast<std::size_t>(i)].pid > 0; }

 private:
  struct server {
    std::uint16_t client_port = 0;
    std::uint16_t route_port = 0;
    std::string config;
    pid_t pid = -1;
  };
  void start(int i);

  temp_dir dir_;
  std::vector<server> servers_;
};

}  // namespace referrald::testing
