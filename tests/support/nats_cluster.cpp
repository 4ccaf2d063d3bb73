#include "tests/support/nats_cluster.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <utility>

#include <rapidjson/document.h>

#include "tests/support/eventually.hpp"
#include "tests/support/http_client.hpp"

extern char** environ;

namespace referrald::testing {

namespace {

// Loopback sockets bound to free ports, held until release(), so that no port repeats
// among them or among ports bound while they are held.
class held_ports {
 public:
  explicit held_ports(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      if (fd >= 0) fds_.push_back(fd);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = 0;
      socklen_t len = sizeof a;
      if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
          getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        release();
        throw std::runtime_error("cannot find a free port");
      }
      ports_.push_back(ntohs(a.sin_port));
    }
  }
  ~held_ports() { release(); }
  held_ports(const held_ports&) = delete;
  held_ports& operator=(const held_ports&) = delete;

  std::uint16_t port(std::size_t i) const { return ports_[i]; }
  // Hands the socket of port(i) over to the caller, who closes it.
  int take(std::size_t i) { return std::exchange(fds_[i], -1); }
  void release() {
    for (int& fd : fds_)
      if (fd >= 0) close(std::exchange(fd, -1));
  }

 private:
  std::vector<int> fds_;
  std::vector<std::uint16_t> ports_;
};

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

}  // namespace

nats_server_version nats_server_version_of(const std::string& bin) {
  nats_server_version v;
  std::string command = "'" + bin + "' --version 2>&1";
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return v;
  char line[256] = {};
  if (std::fgets(line, sizeof line, p) != nullptr) {
    std::string text = line;
    auto at = text.find(" v");
    if (at != std::string::npos &&
        std::sscanf(text.c_str() + at + 1, "v%d.%d.%d", &v.major, &v.minor, &v.patch) == 3) {
      v.text = text.substr(at + 2);
      while (!v.text.empty() && std::isspace(static_cast<unsigned char>(v.text.back())))
        v.text.pop_back();
    }
  }
  pclose(p);
  return v;
}

const std::string& nats_server_binary() {
  static const std::string bin = [] {
    if (const char* env = std::getenv("REFERRALD_NATS_SERVER"); env != nullptr && *env != '\0')
      return std::string(env);
#ifdef REFERRALD_PROJECT_NATS_SERVER
    if (std::filesystem::exists(REFERRALD_PROJECT_NATS_SERVER))
      return std::string(REFERRALD_PROJECT_NATS_SERVER);
#endif
    for (const char* p : {"/usr/sbin/nats-server", "/usr/bin/nats-server"})
      if (std::filesystem::exists(p)) return std::string(p);
    throw std::runtime_error("nats-server is not installed (tools/dev installs it)");
  }();
  return bin;
}

const nats_server_version& nats_server_running() {
  static const nats_server_version v = [] {
    auto read = nats_server_version_of(nats_server_binary());
    // Named once in every test log that starts a server.
    std::printf("nats-server %s (%s)\n",
                read.text.empty() ? "of unknown version" : read.text.c_str(),
                nats_server_binary().c_str());
    std::fflush(stdout);
    return read;
  }();
  return v;
}

nats_cluster::nats_cluster(int n) : nats_cluster(n, nats_cluster_options{}) {}

nats_cluster::nats_cluster(int n, const nats_cluster_options& options) {
  if (n < 1 || n > 5) throw std::runtime_error("a test cluster has 1 to 5 servers");
  binary_ = options.binary;
  auto count = static_cast<std::size_t>(n);
  bool proxy_routes = options.proxy_routes && n > 1;
  // Three ports per server, and the unreachable route address.
  held_ports ports(3 * count + 1);
  servers_.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    auto& s = servers_[i];
    s.client_port = ports.port(3 * i);
    s.route_port = ports.port(3 * i + 1);
    s.monitor_port = ports.port(3 * i + 2);
  }
  std::uint16_t unreachable_port = ports.port(3 * count);
  if (proxy_routes) {
    route_proxies_.resize(count * count);
    for (std::size_t i = 0; i < count; ++i)
      for (std::size_t j = 0; j < count; ++j)
        if (i != j)
          route_proxies_[i * count + j] = std::make_unique<fault_proxy>(servers_[j].route_port);
  }
  if (options.proxy_clients) {
    for (std::size_t i = 0; i < count; ++i)
      client_proxies_.push_back(std::make_unique<fault_proxy>(servers_[i].client_port));
  }
  if (proxy_routes) unreachable_fd_ = ports.take(3 * count);
  ports.release();

  // A constructor that throws runs no destructor: what was started is stopped here.
  try {
    write_configs(options, unreachable_port);
    // A loaded machine can leave the servers' meta group without a leader for long (seen
    // once with two servers, under the whole suite's load), and nats-server 2.10.27 leaves
    // one server of about twenty fresh clusters out of the group for good (BENCHMARKS.md,
    // "Fresh clusters"): then they start again from empty stores, twice at most.
    constexpr int k_attempts = 3;
    for (int attempt = 1;; ++attempt) {
      for (int i = 0; i < n; ++i)
        start(i);
      if (n == 1 || wait_formed()) break;
      if (attempt == k_attempts) {
        throw std::runtime_error("the " + std::to_string(n) +
                                 " NATS servers formed no JetStream cluster in 30 s, " +
                                 std::to_string(k_attempts) + " times (logs: " + dir_.path() + ")");
      }
      for (int i = 0; i < n; ++i) {
        kill(i);
        std::string name = "n" + std::to_string(i + 1);
        std::filesystem::remove_all(dir_.sub(name));
        std::filesystem::create_directories(dir_.sub(name));
      }
    }
  } catch (...) {
    stop();
    throw;
  }
}

void nats_cluster::write_configs(const nats_cluster_options& options,
                                 std::uint16_t unreachable_port) {
  int n = size();
  bool proxy_routes = !route_proxies_.empty();
  for (int i = 0; i < n; ++i) {
    auto& s = servers_[static_cast<std::size_t>(i)];
    std::string name = "n" + std::to_string(i + 1);
    std::filesystem::create_directories(dir_.sub(name));
    s.config = dir_.sub(name + ".conf");
    std::ofstream c(s.config);
    c << "server_name: " << name << "\n"
      << "listen: 127.0.0.1:" << s.client_port << "\n"
      << "http: 127.0.0.1:" << s.monitor_port << "\n"
      << "max_payload: 8MB\n";
    if (options.ping_interval.count() > 0)
      c << "ping_interval: \"" << options.ping_interval.count() << "ms\"\n";
    c << "jetstream {\n  store_dir: \"" << dir_.sub(name) << "\"\n"
      << "  max_memory_store: 64MB\n  max_file_store: 1GB\n}\n";
    if (n > 1) {
      c << "cluster {\n  name: referrald-test\n  listen: 127.0.0.1:" << s.route_port << "\n";
      if (proxy_routes) c << "  advertise: \"127.0.0.1:" << unreachable_port << "\"\n";
      if (options.proxy_clients) c << "  no_advertise: true\n";
      c << "  routes: [\n";
      for (int j = 0; j < n; ++j) {
        if (j == i) continue;
        std::uint16_t port = proxy_routes ? route_proxy(i, j).port()
                                          : servers_[static_cast<std::size_t>(j)].route_port;
        c << "    nats-route://127.0.0.1:" << port << "\n";
      }
      c << "  ]\n}\n";
    }
  }
}

nats_cluster::~nats_cluster() { stop(); }

bool nats_cluster::wait_formed() {
  // The JetStream meta group has a leader that counts every other server as a current
  // peer: before that, a stream of as many replicas as servers cannot be placed (a loaded
  // machine can take seconds to get there).
  auto formed = [&] {
    for (int i = 0; i < size(); ++i) {
      try {
        auto r = http_client(monitor_port(i)).get("/jsz");
        if (r.status != 200) continue;
        rapidjson::Document d;
        d.Parse(r.body.c_str(), r.body.size());
        if (d.HasParseError() || !d.IsObject() || !d.HasMember("meta_cluster")) continue;
        const auto& m = d["meta_cluster"];
        if (!m.IsObject() || !m.HasMember("leader") || !m["leader"].IsString() ||
            !m.HasMember("replicas") || !m["replicas"].IsArray())
          continue;
        if (std::string(m["leader"].GetString()) != "n" + std::to_string(i + 1)) continue;
        int current = 0;
        for (const auto& peer : m["replicas"].GetArray()) {
          auto flag = [&](const char* name) {
            return peer.IsObject() && peer.HasMember(name) && peer[name].IsBool() &&
                   peer[name].GetBool();
          };
          if (flag("current") && !flag("offline")) ++current;
        }
        return current == size() - 1;
      } catch (const std::exception&) {
      }
    }
    return false;
  };
  return eventually(formed, std::chrono::seconds(30), std::chrono::milliseconds(50));
}

void nats_cluster::stop() noexcept {
  for (int i = 0; i < size(); ++i)
    kill(i);
  if (unreachable_fd_ >= 0) close(std::exchange(unreachable_fd_, -1));
}

void nats_cluster::start(int i) {
  auto& s = servers_[static_cast<std::size_t>(i)];
  if (binary_.empty()) (void)nats_server_running();
  std::string bin = binary_.empty() ? nats_server_binary() : binary_;
  std::string log = s.config + ".log";
  std::vector<std::string> args = {bin, "-c", s.config, "-l", log};
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, bin.c_str(), nullptr, nullptr, argv.data(), environ) != 0) {
    throw std::runtime_error("cannot start nats-server");
  }
  s.pid = pid;
  if (eventually([&] { return accepts(s.client_port); }, std::chrono::seconds(10),
                 std::chrono::milliseconds(50)))
    return;
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
  s.frozen = false;
}

void nats_cluster::freeze(int i) {
  auto& s = servers_[static_cast<std::size_t>(i)];
  if (s.pid <= 0 || s.frozen) return;
  ::kill(s.pid, SIGSTOP);
  // SIGSTOP takes effect thread by thread: one running on another core finishes its turn
  // first, and on a busy machine a whole write could still be stored meanwhile. The
  // server, a child of this process, is frozen once the kernel reports it stopped.
  int status = 0;
  while (waitpid(s.pid, &status, WUNTRACED) < 0 && errno == EINTR) {
  }
  s.frozen = true;
}

void nats_cluster::thaw(int i) {
  auto& s = servers_[static_cast<std::size_t>(i)];
  if (s.pid <= 0) return;
  ::kill(s.pid, SIGCONT);
  s.frozen = false;
}

void nats_cluster::restart(int i) {
  kill(i);
  start(i);
}

void nats_cluster::wipe(int i) {
  kill(i);
  std::string store = dir_.sub("n" + std::to_string(i + 1));
  std::filesystem::remove_all(store);
  std::filesystem::create_directories(store);
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

std::uint16_t nats_cluster::monitor_port(int i) const {
  return servers_[static_cast<std::size_t>(i)].monitor_port;
}

fault_proxy& nats_cluster::client_proxy(int i) {
  if (client_proxies_.empty()) throw std::logic_error("the cluster has no client proxies");
  return *client_proxies_.at(static_cast<std::size_t>(i));
}

std::string nats_cluster::proxied_url(int i) const {
  if (client_proxies_.empty()) throw std::logic_error("the cluster has no client proxies");
  return "nats://127.0.0.1:" +
         std::to_string(client_proxies_.at(static_cast<std::size_t>(i))->port());
}

std::string nats_cluster::proxied_urls() const {
  std::string out;
  for (int i = 0; i < size(); ++i)
    out += (i ? "," : "") + proxied_url(i);
  return out;
}

fault_proxy& nats_cluster::route_proxy(int i, int j) {
  if (route_proxies_.empty()) throw std::logic_error("the cluster has no route proxies");
  if (i < 0 || j < 0 || i >= size() || j >= size() || i == j) {
    throw std::logic_error("no route proxy from server " + std::to_string(i) + " to " +
                           std::to_string(j));
  }
  return *route_proxies_[static_cast<std::size_t>(i * size() + j)];
}

void nats_cluster::partition(int i, int j, link_fault f) {
  for (fault_proxy* p : {&route_proxy(i, j), &route_proxy(j, i)}) {
    if (f == link_fault::drop)
      p->drop();
    else
      p->cut();
  }
}

void nats_cluster::isolate(int i, link_fault f) {
  for (int j = 0; j < size(); ++j)
    if (j != i) partition(i, j, f);
}

void nats_cluster::heal() {
  for (auto& p : route_proxies_)
    if (p) p->pass();
  for (auto& p : client_proxies_)
    p->pass();
}

}  // namespace referrald::testing
