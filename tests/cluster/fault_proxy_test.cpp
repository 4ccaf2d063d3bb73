// The fault proxy on a loopback echo server (pass, delay, drop, cut, and its counters), and
// a three-server NATS cluster whose routes and client ports run through proxies: every
// route runs through one, so isolating a server takes it out of the others' routes.

#include "tests/support/fault_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <list>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include "tests/support/eventually.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/nats_cluster.hpp"

using namespace referrald::testing;
using namespace std::chrono_literals;

namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

// A loopback echo server on its own thread, counting the connections it accepted and saw
// closed. Stopped and joined by its destructor.
class echo_server {
 public:
  echo_server() : acceptor_(ioc_, tcp::endpoint(net::ip::address_v4::loopback(), 0)) {
    accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~echo_server() {
    net::post(ioc_, [this] {
      error_code ignored;
      acceptor_.close(ignored);
      for (auto& w : sockets_)
        if (auto s = w.lock()) s->close(ignored);
    });
    thread_.join();
  }
  echo_server(const echo_server&) = delete;
  echo_server& operator=(const echo_server&) = delete;

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  int accepted() const { return accepted_; }
  int closed() const { return closed_; }

 private:
  struct connection {
    std::shared_ptr<tcp::socket> socket;
    std::array<char, 4096> buffer{};
  };

  void accept() {
    acceptor_.async_accept([this](const error_code& ec, tcp::socket s) {
      if (ec) return;
      ++accepted_;
      auto c = std::make_shared<connection>();
      c->socket = std::make_shared<tcp::socket>(std::move(s));
      sockets_.push_back(c->socket);
      echo(c);
      accept();
    });
  }

  void echo(std::shared_ptr<connection> c) {
    c->socket->async_read_some(net::buffer(c->buffer),
                               [this, c](const error_code& ec, std::size_t n) {
                                 if (ec) {
                                   ++closed_;
                                   return;
                                 }
                                 net::async_write(*c->socket, net::buffer(c->buffer, n),
                                                  [this, c](const error_code& e, std::size_t) {
                                                    if (e) {
                                                      ++closed_;
                                                      return;
                                                    }
                                                    echo(c);
                                                  });
                               });
  }

  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::list<std::weak_ptr<tcp::socket>> sockets_;
  std::atomic<int> accepted_{0};
  std::atomic<int> closed_{0};
  std::thread thread_;
};

// A blocking loopback client whose every wait is bounded.
class peer {
 public:
  explicit peer(std::uint16_t port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (fd_ < 0 || connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      if (fd_ >= 0) close(fd_);
      throw std::runtime_error("cannot connect to port " + std::to_string(port));
    }
  }
  ~peer() { close(fd_); }
  peer(const peer&) = delete;
  peer& operator=(const peer&) = delete;

  void send(std::string_view bytes) {
    BOOST_REQUIRE(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
                  static_cast<ssize_t>(bytes.size()));
  }

  // What arrives until `n` bytes did, the peer closed, or `within` passed.
  std::string receive(std::size_t n, std::chrono::milliseconds within) {
    std::string out;
    auto until = std::chrono::steady_clock::now() + within;
    while (out.size() < n && !eof_) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !readable(left)) break;
      char buf[4096];
      auto got = recv(fd_, buf, sizeof buf, 0);
      if (got <= 0) {
        eof_ = true;
        break;
      }
      out.append(buf, static_cast<std::size_t>(got));
    }
    return out;
  }

  // Whether the other side closed (EOF or reset) within `within`; bytes read are dropped.
  bool closed_within(std::chrono::milliseconds within) {
    auto until = std::chrono::steady_clock::now() + within;
    while (!eof_) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !readable(left)) return false;
      char buf[4096];
      if (recv(fd_, buf, sizeof buf, 0) <= 0) eof_ = true;
    }
    return true;
  }

 private:
  bool readable(std::chrono::milliseconds within) {
    pollfd p{fd_, POLLIN, 0};
    return poll(&p, 1, static_cast<int>(within.count())) > 0;
  }

  int fd_;
  bool eof_ = false;
};

// Milliseconds `fn` took.
template <typename Fn>
long long timed(Fn fn) {
  auto start = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               start)
      .count();
}

// num_routes of server i's /routez, or -1 when it does not answer.
int routes_of(nats_cluster& c, int i) {
  try {
    http_client http(c.monitor_port(i));
    auto r = http.get("/routez");
    if (r.status != 200) return -1;
    auto doc = r.json();
    return doc.HasMember("num_routes") ? doc["num_routes"].GetInt() : -1;
  } catch (const std::runtime_error&) {
    return -1;
  }
}

// Route connections between two servers: one before nats-server 2.10; from 2.10 on, a pool
// of 3 (the default pool_size) and one of the system account's own.
int per_peer() { return nats_server_running().at_least(2, 10, 0) ? 4 : 1; }

// Whether server i has expected[i] peers, each linked by per_peer() route connections.
bool routes_are(nats_cluster& c, std::initializer_list<int> expected) {
  int i = 0;
  for (int n : expected)
    if (routes_of(c, i++) != n * per_peer()) return false;
  return true;
}

// Open connections over all route proxies.
std::uint64_t open_routes(nats_cluster& c) {
  std::uint64_t open = 0;
  for (int i = 0; i < c.size(); ++i)
    for (int j = 0; j < c.size(); ++j)
      if (i != j) open += c.route_proxy(i, j).stats().open;
  return open;
}

}  // namespace

// The suite's name is the class's: inside it the class is named in full.
BOOST_AUTO_TEST_SUITE(fault_proxy)

BOOST_AUTO_TEST_CASE(pass_forwards_bytes_both_ways_and_counts_them) {
  echo_server echo;
  referrald::testing::fault_proxy proxy(echo.port());
  BOOST_TEST(proxy.target_port() == echo.port());
  peer p(proxy.port());
  p.send("hello");
  BOOST_TEST(p.receive(5, 3s) == "hello");
  p.send("again");
  BOOST_TEST(p.receive(5, 3s) == "again");
  // A write is counted once it completed, which its reader may see first.
  BOOST_TEST(eventually([&] { return proxy.stats().bytes_from_target == 10u; }, 3s));
  auto s = proxy.stats();
  BOOST_TEST(s.accepted == 1u);
  BOOST_TEST(s.open == 1u);
  BOOST_TEST(s.refused == 0u);
  BOOST_TEST(s.bytes_to_target == 10u);
  BOOST_TEST(s.bytes_discarded == 0u);
  BOOST_TEST(echo.accepted() == 1);
}

BOOST_AUTO_TEST_CASE(delay_holds_each_chunk_back_and_keeps_the_order) {
  echo_server echo;
  referrald::testing::fault_proxy proxy(echo.port());
  peer p(proxy.port());
  proxy.delay(300ms);
  std::string got;
  // Held 300 ms on the way there and 300 ms on the way back.
  auto took = timed([&] {
    p.send("first ");
    std::this_thread::sleep_for(50ms);
    p.send("second");
    got = p.receive(12, 5s);
  });
  BOOST_TEST(got == "first second");
  BOOST_TEST(took >= 600);
  BOOST_TEST(eventually([&] { return proxy.stats().bytes_from_target == 12u; }, 3s));

  // pass() releases what a delay still holds.
  proxy.delay(10s);
  p.send("held");
  std::this_thread::sleep_for(100ms);
  proxy.pass();
  took = timed([&] { got = p.receive(4, 5s); });
  BOOST_TEST(got == "held");
  BOOST_TEST(took < 5000);
}

BOOST_AUTO_TEST_CASE(drop_keeps_connections_open_and_forwards_nothing) {
  echo_server echo;
  referrald::testing::fault_proxy proxy(echo.port());
  peer talking(proxy.port());
  talking.send("ok");
  BOOST_REQUIRE(talking.receive(2, 3s) == "ok");

  proxy.drop();
  talking.send("lost");
  BOOST_TEST(talking.receive(1, 500ms).empty());
  BOOST_TEST(!talking.closed_within(100ms));
  // A new connection is accepted and connected to the target, and carries nothing.
  peer silent(proxy.port());
  BOOST_TEST(eventually([&] { return echo.accepted() == 2; }, 3s));
  BOOST_TEST(silent.receive(1, 300ms).empty());
  auto s = proxy.stats();
  BOOST_TEST(s.bytes_discarded == 4u);
  BOOST_TEST(s.bytes_to_target == 2u);
  BOOST_TEST(s.open == 2u);
  BOOST_TEST(echo.closed() == 0);

  // Ending the partition closes the connection that lost bytes; the other goes on.
  proxy.pass();
  BOOST_TEST(talking.closed_within(3s));
  silent.send("back");
  BOOST_TEST(silent.receive(4, 3s) == "back");
  BOOST_TEST(eventually([&] { return echo.closed() == 1; }, 3s));
}

BOOST_AUTO_TEST_CASE(cut_closes_connections_and_refuses_new_ones_until_pass) {
  echo_server echo;
  referrald::testing::fault_proxy proxy(echo.port());
  peer before(proxy.port());
  before.send("x");
  BOOST_REQUIRE(before.receive(1, 3s) == "x");

  proxy.cut();
  BOOST_TEST(before.closed_within(3s));
  BOOST_TEST(eventually([&] { return echo.closed() == 1; }, 3s));
  BOOST_TEST(proxy.stats().open == 0u);
  peer during(proxy.port());
  BOOST_TEST(during.closed_within(3s));
  BOOST_TEST(proxy.stats().refused == 1u);
  BOOST_TEST(echo.accepted() == 1);

  proxy.pass();
  peer after(proxy.port());
  after.send("y");
  BOOST_TEST(after.receive(1, 3s) == "y");
  BOOST_TEST(proxy.stats().accepted == 3u);
}

BOOST_AUTO_TEST_CASE(every_route_of_a_proxied_cluster_runs_through_its_proxies) {
  nats_cluster_options o;
  o.proxy_routes = true;
  o.ping_interval = 500ms;
  nats_cluster c(3, o);
  BOOST_REQUIRE(eventually([&] { return routes_are(c, {2, 2, 2}); }, 15s));
  // Three routes, each of per_peer() connections through the proxies: none runs direct.
  const auto k = static_cast<std::uint64_t>(per_peer());
  BOOST_TEST(eventually([&] { return open_routes(c) == 3 * k; }, 5s));
  for (int i = 0; i < 3; ++i) {
    for (int j = i + 1; j < 3; ++j) {
      auto a = c.route_proxy(i, j).stats(), b = c.route_proxy(j, i).stats();
      BOOST_TEST(a.open + b.open == k, "servers " << i << " and " << j);
      BOOST_TEST(a.bytes_to_target + b.bytes_to_target > 0u);
      BOOST_TEST(a.bytes_from_target + b.bytes_from_target > 0u);
    }
  }

  // A silent partition: noticed through missed PINGs.
  c.isolate(1);
  BOOST_TEST(eventually([&] { return routes_are(c, {1, 0, 1}); }, 10s));
  c.heal();
  BOOST_REQUIRE(eventually([&] { return routes_are(c, {2, 2, 2}); }, 15s));
  BOOST_TEST(eventually([&] { return open_routes(c) == 3 * k; }, 5s));

  // The routes formed again (while the servers gossiped) run through the proxies too.
  c.isolate(1, link_fault::cut);
  BOOST_TEST(eventually([&] { return routes_are(c, {1, 0, 1}); }, 5s));
  c.heal();
  BOOST_TEST(eventually([&] { return routes_are(c, {2, 2, 2}); }, 15s));
}

BOOST_AUTO_TEST_CASE(clients_of_a_proxied_cluster_learn_no_direct_server_url) {
  nats_cluster_options o;
  o.proxy_routes = true;
  o.proxy_clients = true;
  nats_cluster c(3, o);
  BOOST_REQUIRE(eventually([&] { return routes_are(c, {2, 2, 2}); }, 15s));
  BOOST_TEST(c.proxied_urls().find(c.url(0)) == std::string::npos);
  peer client(c.client_proxy(0).port());
  auto info = client.receive(4096, 2s);
  BOOST_TEST(info.rfind("INFO ", 0) == 0u, info);
  BOOST_TEST(info.find("connect_urls") == std::string::npos, info);
  client.send("CONNECT {\"verbose\":false}\r\nPING\r\n");
  BOOST_TEST(client.receive(6, 2s).find("PONG") != std::string::npos);
  BOOST_TEST(c.client_proxy(0).stats().accepted == 1u);

  c.client_proxy(0).cut();
  BOOST_TEST(client.closed_within(3s));
  BOOST_CHECK_THROW(c.route_proxy(0, 0), std::logic_error);
}

BOOST_AUTO_TEST_SUITE_END()
