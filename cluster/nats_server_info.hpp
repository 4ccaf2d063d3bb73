#pragma once

// What a NATS server says of itself: the INFO line it sends first on every new client
// connection (server name and version), read over a plain TCP connection of its own that
// sends nothing, so that it needs no credentials. A server that starts with TLS before
// INFO (tls handshake_first) answers nothing readable: unknown.

#include <chrono>
#include <string>
#include <string_view>

#include "domain/base/result.hpp"

namespace referrald::cluster {

struct nats_server_info {
  std::string address;  // host:port, as connected to
  std::string name;     // server_name ("" when the INFO has none)
  std::string version;  // "2.10.27"
};

// The INFO of the server at `url` (nats://[user[:password]@]host[:port], tls:// or a bare
// host[:port]; port 4222 when none), waiting at most `timeout`; unavailable when it cannot
// be read.
domain::result<nats_server_info> read_nats_server_info(std::string_view url,
                                                       std::chrono::milliseconds timeout);

// Whether `version` ("2.10.27", "2.11.0-RC.1") is at least major.minor.patch; false when it
// does not read as a version.
bool nats_version_at_least(std::string_view version, int major, int minor, int patch);

// The oldest nats-server release that referrald's cluster mode is meant for: raft fixes of
// the 2.10 line that keep a former stream leader from holding writes it never replicated
// (docs/cluster.md, "NATS server versions").
inline constexpr int k_nats_recommended[3] = {2, 10, 23};

// The warning for `server`, older than k_nats_recommended: what it risks, and where to read.
std::string old_server_warning(const nats_server_info& server);

}  // namespace referrald::cluster
