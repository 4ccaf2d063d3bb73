// The systemd readiness protocol (docs/operations.md, "Configuration"): with NOTIFY_SOCKET set, as
// a Type=notify unit has it, the server says READY=1 once it listens, RELOADING=1 and READY=1
// around a SIGHUP, and STOPPING=1 when it stops.

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <string>

#include "tests/http/fixture.hpp"

using namespace referrald::testing;

namespace {

// A datagram socket bound at `path`, as systemd's notification socket.
struct notify_socket {
  int fd = -1;
  explicit notify_socket(const std::string& path) {
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    BOOST_REQUIRE(fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    BOOST_REQUIRE(path.size() < sizeof addr.sun_path);
    path.copy(addr.sun_path, path.size());
    BOOST_REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    timeval tv{20, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~notify_socket() { close(fd); }
  // The next message (empty after 20 s without one).
  std::string next() {
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(systemd)

BOOST_AUTO_TEST_CASE(the_server_tells_systemd_when_it_is_ready_reloads_and_stops) {
  temp_dir dir;
  const std::string path = dir.sub("notify.sock");
  notify_socket sock(path);
  server_process server({dir.sub("data"), {}, {"NOTIFY_SOCKET=" + path}, true});
  std::string ready = sock.next();
  BOOST_TEST(ready.find("READY=1") != std::string::npos, ready);
  BOOST_TEST(ready.find("MAINPID=" + std::to_string(server.pid())) != std::string::npos, ready);
  BOOST_TEST(ready.find("STATUS=serving") != std::string::npos, ready);
  // Ready means serving.
  BOOST_TEST(http_client(server.port()).get("/readyz").status == 200u);
  kill(server.pid(), SIGHUP);
  BOOST_TEST(sock.next() == "RELOADING=1");
  BOOST_TEST(sock.next() == "READY=1");
  server.stop(SIGTERM);
  BOOST_TEST(sock.next().find("STOPPING=1") == 0u);
}

BOOST_AUTO_TEST_CASE(a_store_that_takes_no_writes_is_served_and_the_status_says_not_ready) {
  temp_dir dir;
  // A store made first, then opened with a free-space reserve no disk has: it serves reads.
  { server_process first({dir.sub("data"), {}, {}, true}); }
  const std::string path = dir.sub("notify.sock");
  notify_socket sock(path);
  server_process server(
      {dir.sub("data"), {"--min-free-disk", "1000000G"}, {"NOTIFY_SOCKET=" + path}, true});
  std::string ready = sock.next();
  BOOST_TEST(ready.find("READY=1") != std::string::npos, ready);
  BOOST_TEST(ready.find("STATUS=not ready (the store does not take writes") != std::string::npos,
             ready);
  BOOST_TEST(http_client(server.port()).get("/readyz").status == 503u);
  BOOST_TEST(http_client(server.port()).get("/healthz").status == 200u);
  server.stop(SIGTERM);
  BOOST_TEST(sock.next().find("STOPPING=1") == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
