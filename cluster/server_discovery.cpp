#include "cluster/server_discovery.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <string_view>

#include "infra/log.hpp"

namespace referrald::cluster {

std::string server_discovery::server_of(const std::string& url) const {
  std::lock_guard lock(names_mu);
  if (auto it = server_names.find(url); it != server_names.end()) return it->second;
  std::string_view rest = url;
  if (auto scheme = rest.find("://"); scheme != std::string_view::npos)
    rest.remove_prefix(scheme + 3);
  if (auto at = rest.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
  auto colon = rest.rfind(':');
  std::string host(rest.substr(0, colon));
  std::string port = colon == std::string_view::npos ? "4222" : std::string(rest.substr(colon + 1));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  std::string name = url;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) == 0) {
    std::set<std::string> addresses;
    for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
      char text[INET6_ADDRSTRLEN] = {};
      const void* raw =
          a->ai_family == AF_INET
              ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr)
              : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr);
      if (inet_ntop(a->ai_family, raw, text, sizeof text) != nullptr) {
        // IPv4 first ("4" sorts before "6"), so that a name with both resolves as its
        // IPv4 address does.
        addresses.insert((a->ai_family == AF_INET ? "4 " : "6 ") + std::string(text));
      }
    }
    freeaddrinfo(found);
    if (!addresses.empty()) name = addresses.begin()->substr(2) + ":" + port;
  }
  server_names.emplace(url, name);
  return name;
}

int server_discovery::known_servers() const {
  std::set<std::string> servers;
  char** urls = nullptr;
  int count = 0;
  if (natsConnection_GetServers(conn.nc, &urls, &count) == NATS_OK) {
    for (int i = 0; i < count; ++i) {
      servers.insert(server_of(urls[i]));
      std::free(urls[i]);
    }
    std::free(static_cast<void*>(urls));
  }
  for (const auto& given : conn.options.servers)
    servers.insert(server_of(given));
  return std::max<int>(1, static_cast<int>(servers.size()));
}

int server_discovery::most_known_servers() const {
  int now = known_servers();
  int seen = most_known.load();
  while (now > seen && !most_known.compare_exchange_weak(seen, now)) {
  }
  return std::max(now, seen);
}

void server_discovery::settle_known_servers(std::chrono::steady_clock::time_point deadline) {
  using namespace std::chrono_literals;
  auto until = std::min(deadline, std::chrono::steady_clock::now() + 2s);
  int last = -1;
  auto since = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() < until) {
    int now =
        natsConnection_Status(conn.nc) == NATS_CONN_STATUS_CONNECTED ? most_known_servers() : -1;
    if (now != last) {
      last = now;
      since = std::chrono::steady_clock::now();
    } else if (now >= 0 && std::chrono::steady_clock::now() - since >= 500ms) {
      return;
    }
    nats_Sleep(50);
  }
}

void server_discovery::check_servers() {
  servers_checked = std::chrono::steady_clock::now();
  std::vector<std::string> urls = conn.options.servers;
  char** discovered = nullptr;
  int count = 0;
  if (natsConnection_GetDiscoveredServers(conn.nc, &discovered, &count) == NATS_OK) {
    for (int i = 0; i < count; ++i) {
      if (std::find(urls.begin(), urls.end(), discovered[i]) == urls.end())
        urls.emplace_back(discovered[i]);
      free(discovered[i]);
    }
    free(discovered);
  }
  std::vector<nats_server_info> seen;
  for (const auto& url : urls) {
    auto info = read_nats_server_info(url, std::chrono::milliseconds(500));
    if (!info) continue;
    bool known = std::any_of(seen.begin(), seen.end(), [&](const nats_server_info& s) {
      return !info->name.empty() ? s.name == info->name : s.address == info->address;
    });
    if (!known) seen.push_back(std::move(*info));
  }
  for (const auto& server : seen) {
    std::string who = server.name.empty() ? server.address : server.name;
    auto& logged = server_versions_logged[who];
    if (logged == server.version) continue;
    logged = server.version;
    const auto* r = k_nats_recommended;
    if (nats_version_at_least(server.version, r[0], r[1], r[2])) {
      infra::log(infra::log_level::info, "NATS server " + who + " (" + server.address +
                                             ") runs nats-server " + server.version);
    } else {
      infra::log(infra::log_level::warn, old_server_warning(server));
    }
  }
  std::lock_guard lock(servers_mu);
  servers_seen = std::move(seen);
}

std::vector<nats_server_info> server_discovery::seen_servers() const {
  std::lock_guard lock(servers_mu);
  return servers_seen;
}

}  // namespace referrald::cluster
