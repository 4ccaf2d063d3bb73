#include "cluster/nats_server_info.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rapidjson/document.h>
#include <cerrno>
#include <cstdio>

namespace referrald::cluster {

namespace {

using steady = std::chrono::steady_clock;

domain::error unreadable(std::string_view address, std::string_view why) {
  return domain::make_error(
      domain::errc::unavailable,
      "cannot read the NATS server at " + std::string(address) + ": " + std::string(why));
}

// host and port of a server URL.
std::pair<std::string, std::string> host_and_port(std::string_view url) {
  if (auto scheme = url.find("://"); scheme != std::string_view::npos)
    url.remove_prefix(scheme + 3);
  if (auto end = url.find_first_of("/?"); end != std::string_view::npos) url = url.substr(0, end);
  if (auto at = url.rfind('@'); at != std::string_view::npos) url.remove_prefix(at + 1);
  std::string host(url), port = "4222";
  if (!url.empty() && url.front() == '[') {
    auto close = url.find(']');
    if (close != std::string_view::npos) {
      host = std::string(url.substr(1, close - 1));
      if (close + 1 < url.size() && url[close + 1] == ':')
        port = std::string(url.substr(close + 2));
    }
  } else if (auto colon = url.rfind(':'); colon != std::string_view::npos) {
    host = std::string(url.substr(0, colon));
    port = std::string(url.substr(colon + 1));
  }
  return {host, port};
}

class socket_fd {
 public:
  explicit socket_fd(int fd) : fd_(fd) {}
  ~socket_fd() {
    if (fd_ >= 0) close(fd_);
  }
  socket_fd(const socket_fd&) = delete;
  socket_fd& operator=(const socket_fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Waits for `events` on `fd` until `until`; false on timeout or error.
bool wait_for(int fd, short events, steady::time_point until) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - steady::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    int n = poll(&p, 1, static_cast<int>(left.count()));
    if (n > 0) return (p.revents & events) != 0 || (p.revents & (POLLHUP | POLLERR)) != 0;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

}  // namespace

domain::result<nats_server_info> read_nats_server_info(std::string_view url,
                                                       std::chrono::milliseconds timeout) {
  auto until = steady::now() + timeout;
  auto [host, port] = host_and_port(url);
  std::string address = host + ":" + port;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return unreadable(address, gai_strerror(rc));
  }
  std::string line;
  std::string why = "no address";
  for (addrinfo* ai = found; ai != nullptr && line.empty(); ai = ai->ai_next) {
    socket_fd s(
        socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (s.get() < 0) continue;
    if (connect(s.get(), ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
      why = "cannot connect";
      continue;
    }
    if (!wait_for(s.get(), POLLOUT, until)) {
      why = "no connection in time";
      continue;
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      why = "connection refused";
      continue;
    }
    std::string got;
    char buf[4096];
    while (got.find("\r\n") == std::string::npos && got.size() < (64u << 10)) {
      if (!wait_for(s.get(), POLLIN, until)) break;
      ssize_t n = read(s.get(), buf, sizeof buf);
      if (n <= 0 && (n == 0 || (errno != EAGAIN && errno != EINTR))) break;
      if (n > 0) got.append(buf, static_cast<std::size_t>(n));
    }
    auto end = got.find("\r\n");
    if (end == std::string::npos || got.rfind("INFO ", 0) != 0) {
      why = "it sent no INFO";
      continue;
    }
    line = got.substr(5, end - 5);
  }
  freeaddrinfo(found);
  if (line.empty()) return unreadable(address, why);
  rapidjson::Document d;
  d.Parse(line.data(), line.size());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("version") || !d["version"].IsString()) {
    return unreadable(address, "its INFO names no version");
  }
  nats_server_info info;
  info.address = address;
  info.version = d["version"].GetString();
  if (d.HasMember("server_name") && d["server_name"].IsString()) {
    info.name = d["server_name"].GetString();
  }
  return info;
}

bool nats_version_at_least(std::string_view version, int major, int minor, int patch) {
  if (!version.empty() && version.front() == 'v') version.remove_prefix(1);
  int v[3] = {-1, -1, -1};
  if (std::sscanf(std::string(version).c_str(), "%d.%d.%d", &v[0], &v[1], &v[2]) != 3) return false;
  if (v[0] != major) return v[0] > major;
  if (v[1] != minor) return v[1] > minor;
  return v[2] >= patch;
}

std::string old_server_warning(const nats_server_info& server) {
  const auto* r = k_nats_recommended;
  return "NATS server " + (server.name.empty() ? server.address : server.name) + " (" +
         server.address + ") runs nats-server " + server.version + ", older than " +
         std::to_string(r[0]) + "." + std::to_string(r[1]) + "." + std::to_string(r[2]) +
         ": a stream leader cut off from the others may keep writes it never replicated, "
         "and nodes then fill a new copy (docs/cluster.md, \"NATS server versions\")";
}

}  // namespace referrald::cluster
