#pragma once

// A real NATS cluster for tests: N nats-server processes with JetStream, their client,
// cluster-route and monitoring ports free loopback ports, their data in a temporary
// directory. Started and stopped by PID; each server can be killed and restarted on its own.
//
// Optionally with fault proxies (tests/support/fault_proxy.hpp) on the routes between the
// servers and in front of their client ports, so that a test can partition, cut or slow
// the links while the servers run. A nats_cluster is used by one thread at a time; the
// proxies it hands out may be driven from any thread.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/fault_proxy.hpp"
#include "tests/support/temp_dir.hpp"

namespace referrald::testing {

// The NATS server the tests run: $REFERRALD_NATS_SERVER when set, else the project's copy
// (build/tools/, put there by tools/dev: tools/nats_server.sh), else the system's. Throws
// when there is none.
const std::string& nats_server_binary();

struct nats_server_version {
  int major = 0, minor = 0, patch = 0;
  std::string text;  // "2.10.27"; empty when the server printed no version
  bool at_least(int ma, int mi, int pa) const {
    if (major != ma) return major > ma;
    if (minor != mi) return minor > mi;
    return patch >= pa;
  }
};
// The version the nats-server at `bin` prints ({} when it prints none).
nats_server_version nats_server_version_of(const std::string& bin);
// The version of nats_server_binary(), read once; the first call prints it (and the
// binary's path) to standard output, so that each test log names the server it ran on.
const nats_server_version& nats_server_running();

struct nats_cluster_options {
  // Server i's route to server j goes through route_proxy(i, j), a proxy of its own in
  // front of j's route port. Each server advertises an address where nothing listens as its
  // route address (cluster `advertise`), so the route addresses the servers gossip lead
  // nowhere and every route between servers runs through one of these proxies.
  bool proxy_routes = false;
  // A proxy in front of each server's client port: proxied_url(i), client_proxy(i). The
  // servers tell clients no other server's URL (cluster `no_advertise`), so a client given
  // proxied URLs only ever connects through them.
  bool proxy_clients = false;
  // The servers' PING interval, to clients and routes alike (`ping_interval`); zero keeps
  // the server's default of 2 minutes. A server closes a connection that left 2 PINGs
  // unanswered when the next one is due, so a dropped link is noticed within about three
  // intervals.
  std::chrono::milliseconds ping_interval{0};
  // The nats-server to run; empty: nats_server_binary().
  std::string binary;
};

// What isolate() and partition() do to the proxies of a link: drop() or cut().
enum class link_fault { drop, cut };

class nats_cluster {
 public:
  // Starts `n` servers (1 to 5) and waits until each accepts connections.
  explicit nats_cluster(int n);
  nats_cluster(int n, const nats_cluster_options& options);
  ~nats_cluster();
  nats_cluster(const nats_cluster&) = delete;
  nats_cluster& operator=(const nats_cluster&) = delete;

  int size() const { return static_cast<int>(servers_.size()); }
  // nats://127.0.0.1:PORT of server i.
  std::string url(int i) const;
  // Every server's URL, comma-separated (the form of --cluster).
  std::string urls() const;

  // Port of server i's HTTP monitoring endpoint (/varz, /routez, /jsz...) on 127.0.0.1.
  std::uint16_t monitor_port(int i) const;

  // SIGKILL of server i (its data stays); restart() starts it again on the same ports.
  // Neither touches the proxies.
  void kill(int i);
  void restart(int i);
  // Starts server i again with an empty JetStream store (as a server replaced by a new
  // machine would): every stream it held is gone from it.
  void wipe(int i);
  // SIGSTOP / SIGCONT of server i: frozen, it keeps its connections open and answers
  // nothing (a machine that hangs). freeze() returns once every thread of the server has
  // stopped.
  void freeze(int i);
  void thaw(int i);
  bool running(int i) const { return servers_[static_cast<std::size_t>(i)].pid > 0; }

  // With proxy_clients: nats://127.0.0.1:PORT of client_proxy(i), and all of them
  // comma-separated. Throw std::logic_error without it.
  std::string proxied_url(int i) const;
  std::string proxied_urls() const;
  fault_proxy& client_proxy(int i);

  // With proxy_routes: the proxy carrying server i's routes to server j (i != j). The two
  // servers of a pair both connect and keep one route (nats-server 2.9) or one pool of
  // routes (2.10: 3 and one of the system account), each through route_proxy(i, j) or
  // route_proxy(j, i): a fault between them goes on both (partition()). Throws std::logic_error
  // without proxy_routes or for i == j.
  fault_proxy& route_proxy(int i, int j);
  // Applies `f` to both proxies between servers i and j.
  void partition(int i, int j, link_fault f = link_fault::drop);
  // Applies `f` to every route proxy touching server i: i is cut off from the other servers
  // (its clients still reach it). With drop, the servers notice by missed PINGs (see
  // nats_cluster_options::ping_interval); with cut, at once.
  void isolate(int i, link_fault f = link_fault::drop);
  // pass() on every proxy, route and client alike.
  void heal();

 private:
  struct server {
    std::uint16_t client_port = 0;
    std::uint16_t route_port = 0;
    std::uint16_t monitor_port = 0;
    std::string config;
    pid_t pid = -1;
    bool frozen = false;
  };
  void write_configs(const nats_cluster_options& options, std::uint16_t unreachable_port);
  void start(int i);
  // Waits (30 s at most) until the servers form a JetStream cluster; false when they did not.
  bool wait_formed();
  // Kills every server still running and closes the unreachable route address.
  void stop() noexcept;

  temp_dir dir_;
  std::string binary_;
  std::vector<server> servers_;
  // A loopback socket bound and never listening: the route address every server advertises
  // under proxy_routes (a connect to it is refused). -1 when unused.
  int unreachable_fd_ = -1;
  // route_proxies_[i * size() + j] is route_proxy(i, j); empty without proxy_routes.
  std::vector<std::unique_ptr<fault_proxy>> route_proxies_;
  std::vector<std::unique_ptr<fault_proxy>> client_proxies_;
};

}  // namespace referrald::testing
