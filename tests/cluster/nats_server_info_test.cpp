// Reading what a NATS server says of itself (cluster/nats_server_info.hpp), from a loopback
// listener that answers as a server would, or does not.

#include "cluster/nats_server_info.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <string>
#include <thread>

using namespace referrald::cluster;
using namespace std::chrono_literals;

namespace {

// A listener on a free loopback port whose first connection is sent `greeting` (nothing
// when empty) and held open until the listener goes.
class fake_server {
 public:
  explicit fake_server(std::string greeting) : greeting_(std::move(greeting)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    BOOST_REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    BOOST_REQUIRE(listen(fd_, 4) == 0);
    BOOST_REQUIRE(getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      if (!greeting_.empty()) (void)!write(c, greeting_.data(), greeting_.size());
      char buf[16];
      while (read(c, buf, sizeof buf) > 0) {
      }
      close(c);
    });
  }
  ~fake_server() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    if (thread_.joinable()) thread_.join();
  }
  std::string url() const { return "nats://user:secret@127.0.0.1:" + std::to_string(port_); }

 private:
  std::string greeting_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(nats_server_info_suite)

BOOST_AUTO_TEST_CASE(a_servers_info_line_gives_its_name_and_version) {
  fake_server s(R"(INFO {"server_id":"N1","server_name":"nats-1","version":"2.9.10","go":"go1.19"})"
                "\r\n");
  auto info = read_nats_server_info(s.url(), 2s);
  BOOST_REQUIRE_MESSAGE(info.ok(), (info.ok() ? "" : info.err().message));
  BOOST_TEST(info->name == "nats-1");
  BOOST_TEST(info->version == "2.9.10");
  BOOST_TEST(info->address.rfind("127.0.0.1:", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(a_server_that_says_nothing_or_something_else_is_unreadable) {
  fake_server silent("");
  auto start = std::chrono::steady_clock::now();
  auto none = read_nats_server_info(silent.url(), 300ms);
  BOOST_TEST(!none.ok());
  BOOST_TEST((std::chrono::steady_clock::now() - start < 2s));
  fake_server other("HTTP/1.1 400 Bad Request\r\n\r\n");
  BOOST_TEST(!read_nats_server_info(other.url(), 1s).ok());
  fake_server no_version("INFO {\"server_name\":\"x\"}\r\n");
  BOOST_TEST(!read_nats_server_info(no_version.url(), 1s).ok());
  // Nothing listens on port 1 of the loopback address.
  BOOST_TEST(!read_nats_server_info("nats://127.0.0.1:1", 1s).ok());
}

BOOST_AUTO_TEST_CASE(versions_compare_by_number) {
  BOOST_TEST(nats_version_at_least("2.10.27", 2, 10, 23));
  BOOST_TEST(nats_version_at_least("2.10.23", 2, 10, 23));
  BOOST_TEST(nats_version_at_least("2.11.0-RC.1", 2, 10, 23));
  BOOST_TEST(nats_version_at_least("v3.0.0", 2, 10, 23));
  BOOST_TEST(!nats_version_at_least("2.10.22", 2, 10, 23));
  BOOST_TEST(!nats_version_at_least("2.9.25", 2, 10, 23));
  BOOST_TEST(!nats_version_at_least("2.9.10", 2, 10, 23));
  BOOST_TEST(!nats_version_at_least("", 2, 10, 23));
  BOOST_TEST(!nats_version_at_least("two", 2, 10, 23));
}

BOOST_AUTO_TEST_SUITE_END()
