#include "tests/support/nats_cluster.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace referrald::testing {

namespace {

// Free loopback ports, all held open until every one is chosen (so that none repeats).
std::vector<std::uint16_t> free_ports(std::size_t n) {
  std::vector<int> fds;
  std::vector<std::uint16_t> ports;
  for (std::size_t i = 0; i < n; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      throw std::runtime_error("cannot find a free port");
    }
    fds.push_back(fd);
    ports.push_back(ntohs(a.sin_port));
  }
  for (int fd : fds)
    close(fd);
  return ports;
}

bool accepts(std::uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

std::string nats_server_binary() {
  for (const char* p : {"/usr/sbin/nats-server", "/usr/bin/nats-server"})
    if (std::filesystem::exists(p)) return p;
  throw std::runtime_error("nats-server is not installed (tools/dev installs it)");
}

}  // namespace

nats_cluster::nats_cluster(int n) {
  if (n < 1 || n > 5) throw std::runtime_error("a test cluster has 1 to 5 servers");
  auto ports = free_ports(2 * static_cast<std::size_t>(n));
  servers_.resize(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto& s = servers_[static_cast<std::size_t>(i)];
    s.client_port = ports[2 * static_cast<std::size_t>(i)];
    s.route_port = ports[2 * static_cast<std::size_t>(i) + 1];
  }
  for (int i = 0; i < n; ++i) {
    auto& s = servers_[static_cast<std::size_t>(i)];
    std::string name = "n" + std::to_string(i + 1);
    std::filesystem::create_directories(dir_.sub(name));
    s.config = dir_.sub(name + ".conf");
    std::ofstream c(s.config);
    c << "server_name: " << name << "\n"
      << "listen: 127.0.0.1:" << s.client_port << "\n"
      << "max_payload: 8MB\n"
      << "jetstream {\n  store_dir: \"" << dir_.sub(name) << "\"\n"
      << "  max_memory_store: 64MB\n  max_file_store: 1GB\n}\n";
    if (n > 1) {
      c << "cluster {\n  name: referrald-test\n  listen: 127.0.0.1:" << s.route_port
        << "\n  routes: [\n";
      for (int j = 0; j < n; ++j) {
        if (j == i) continue;
        c << "    nats-route://127.0.0.1:" << servers_[static_cast<std::size_t>(j)].route_port
          << "\n";
      }
      c << "  ]\n}\n";
    }
  }
  for (int i = 0; i < n; ++i)
    start(i);
}

nats_cluster::~nats_cluster() {
  for (auto& s : servers_) {
    if (s.pid <= 0) continue;
    ::kill(s.pid, SIGKILL);
    int status = 0;
    waitpid(s.pid, &status, 0);
    s.pid = -1;
  }
}

void nats_cluster::start(int i) {
  auto& s = servers_[static_cast<std::size_t>(i)];
  std::string bin = nats_server_binary();
  std::string log = s.config + ".log";
  std::vector<std::string> args = {bin, "-c", s.config, "-l", log};
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  if (posix_spawn(&s.pid, bin.c_str(), nullptr, nullptr, argv.data(), environ) != 0) {
    throw std::runtime_error("cannot start nats-server");
  }
  for (int tries = 0; tries < 200; ++tries) {
    if (accepts(s.client_port)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error("nats-server " + std::to_string(i + 1) + " did not start (log: " + log +
                           ")");
}

void nats_cluster::kill(int i) {
  auto& s = servers_[static_cast<std::size_t>(i)];
  if (s.pid <= 0) return;
  ::kill(s.pid, SIGKILL);
  int status = 0;
  waitpid(s.pid, &status, 0);
  s.pid = -1;
}

void nats_cluster::restart(int i) {
  kill(i);
  start(i);
}

std::string nats_cluster::url(int i) const {
  return "nats://127.0.0.1:" + std::to_string(servers_[static_cast<std::size_t>(i)].client_port);
}

std::string nats_cluster::urls() const {
  std::string out;
  for (int i = 0; i < size(); ++i)
    out += (i ? "," : "") + url(i);
  return out;
}

}  // namespace referrald::testing
