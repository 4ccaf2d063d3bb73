// Request framing as a hostile or careless client exercises it: oversized trailers and
// chunk extensions, transfer codings that would smuggle a second request, missing or
// repeated Host, obsolete line folding, absolute-form targets, slow headers. Every case
// gets an error answer and a closed connection, and the server keeps serving.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/http/fixture.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/process.hpp"

using namespace referrald::testing;

namespace {

// A raw loopback connection with bounded waits, for bytes no well-behaved client sends.
class raw_conn {
 public:
  explicit raw_conn(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~raw_conn() { ::close(fd_); }
  raw_conn(const raw_conn&) = delete;
  raw_conn& operator=(const raw_conn&) = delete;

  // Sends what the peer accepts within `ms`; returns the bytes sent.
  std::size_t send(std::string_view bytes, int ms = 2000) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      until - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) break;
      pollfd p{fd_, POLLOUT, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
      ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    return sent;
  }

  // Reads until the peer closes or `ms` passes.
  std::string read_all(int ms = 3000) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    std::string out;
    char buf[8192];
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      until - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = true;
        break;
      }
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }

  bool closed() const { return closed_; }

 private:
  int fd_ = -1;
  bool closed_ = false;
};

std::string exchange(std::uint16_t port, std::string_view bytes) {
  raw_conn c(port);
  c.send(bytes);
  return c.read_all();
}

bool starts_with(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

std::size_t count_of(const std::string& s, std::string_view what) {
  std::size_t n = 0;
  for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + 1))
    ++n;
  return n;
}

void require_alive(server_fixture& f) {
  http_client c(f.server->port());
  BOOST_TEST(c.get("/healthz").status == 200u);
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(framing, server_fixture)

BOOST_AUTO_TEST_CASE(an_oversized_chunk_trailer_is_431_and_does_not_kill_the_server) {
  std::string req =
      "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n"
      "X-T: " +
      std::string(70000, 'a') + "\r\n\r\n";
  auto out = exchange(server->port(), req);
  BOOST_TEST(starts_with(out, "HTTP/1.1 431"), out.substr(0, 80));
  BOOST_TEST(out.find("\"code\":\"header_too_large\"") != std::string::npos);
  require_alive(*this);
}

BOOST_AUTO_TEST_CASE(a_trailer_section_over_the_header_limit_is_431) {
  std::string trailers;
  for (int i = 0; i < 40; ++i)
    trailers += "X-T" + std::to_string(i) + ": " + std::string(500, 'b') + "\r\n";
  std::string req =
      "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n" +
      trailers + "\r\n";
  auto out = exchange(server->port(), req);
  BOOST_TEST(starts_with(out, "HTTP/1.1 431"), out.substr(0, 80));
  require_alive(*this);
}

BOOST_AUTO_TEST_CASE(a_small_trailer_is_accepted) {
  std::string req =
      "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
      "1\r\na\r\n0\r\nX-Checksum: abc\r\n\r\n";
  auto out = exchange(server->port(), req);
  BOOST_TEST(starts_with(out, "HTTP/1.1 200"), out.substr(0, 80));
}

BOOST_AUTO_TEST_CASE(one_byte_chunks_past_the_body_limit_are_413_and_do_not_kill_the_server) {
  std::string body;
  body.reserve(7u * (1100u << 10));
  for (std::size_t i = 0; i < (1100u << 10); ++i)
    body += "1\r\na\r\n";
  body += "0\r\n\r\n";
  std::string req =
      "POST /passthrough-referrers?account_id=acme HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
      std::string(admin_secret) +
      "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + body;
  raw_conn c(server->port());
  c.send(req, 5000);
  auto out = c.read_all();
  BOOST_TEST(starts_with(out, "HTTP/1.1 413"), out.substr(0, 80));
  require_alive(*this);
}

BOOST_AUTO_TEST_CASE(huge_chunk_extensions_are_refused_without_buffering_them) {
  long before = rss_kib(server->pid());
  std::string head = "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;ext=";
  std::string filler(1u << 20, 'e');
  std::vector<std::unique_ptr<raw_conn>> conns;
  for (int i = 0; i < 4; ++i) {
    conns.push_back(std::make_unique<raw_conn>(server->port()));
    conns.back()->send(head);
  }
  // Up to 64 MiB of extension per connection, as fast as the server takes it.
  for (int mib = 0; mib < 64; ++mib) {
    std::size_t accepted = 0;
    for (auto& c : conns)
      accepted += c->send(filler, 100);
    if (accepted == 0) break;
  }
  long during = rss_kib(server->pid());
  for (auto& c : conns) {
    auto out = c->read_all(3000);
    BOOST_TEST(starts_with(out, "HTTP/1.1 431"), out.substr(0, 80));
  }
  BOOST_TEST_MESSAGE("server RSS " << before << " KiB before, " << during << " KiB during");
  BOOST_TEST(during - before < 32 * 1024);
  require_alive(*this);
}

BOOST_AUTO_TEST_CASE(transfer_codings_other_than_chunked_are_501_and_never_smuggle_a_request) {
  for (const char* coding : {"gzip", "identity", "chunked, gzip", "chunked, identity",
                             "gzip, chunked", "chunked, chunked", "x"}) {
    // The body, read as a request, would be a second GET /metrics on the connection.
    std::string req = std::string("POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ") +
                      coding + "\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    auto out = exchange(server->port(), req);
    BOOST_TEST(starts_with(out, "HTTP/1.1 501"), coding << ": " << out.substr(0, 80));
    BOOST_TEST(out.find("\"code\":\"not_implemented\"") != std::string::npos, coding);
    BOOST_TEST(count_of(out, "HTTP/1.1 ") == 1u, coding << ": " << out);
    BOOST_TEST(out.find("referrald_http_requests_total") == std::string::npos, coding);
  }
  // Two Transfer-Encoding lines are one list: "gzip" then "chunked" is not chunked alone.
  auto two = exchange(server->port(),
                      "POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  BOOST_TEST(starts_with(two, "HTTP/1.1 501"), two.substr(0, 80));
  require_alive(*this);
}

BOOST_AUTO_TEST_CASE(content_length_with_transfer_encoding_is_400_and_closes) {
  for (const char* order : {"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                            "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"}) {
    raw_conn c(server->port());
    c.send(std::string("POST /healthz HTTP/1.1\r\nHost: x\r\n") + order +
           "\r\n0\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    auto out = c.read_all();
    BOOST_TEST(starts_with(out, "HTTP/1.1 400"), out.substr(0, 80));
    BOOST_TEST(out.find("\"code\":\"bad_request\"") != std::string::npos);
    BOOST_TEST(count_of(out, "HTTP/1.1 ") == 1u, out);
    BOOST_TEST(c.closed());
  }
}

BOOST_AUTO_TEST_CASE(http11_without_exactly_one_host_is_400) {
  auto none = exchange(server->port(), "GET /healthz HTTP/1.1\r\n\r\n");
  BOOST_TEST(starts_with(none, "HTTP/1.1 400"), none.substr(0, 80));
  BOOST_TEST(none.find("Host") != std::string::npos);
  auto two = exchange(server->port(), "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
  BOOST_TEST(starts_with(two, "HTTP/1.1 400"), two.substr(0, 80));
  // HTTP/1.0 predates Host.
  auto old = exchange(server->port(), "GET /healthz HTTP/1.0\r\n\r\n");
  BOOST_TEST(starts_with(old, "HTTP/1.0 200"), old.substr(0, 80));
}

BOOST_AUTO_TEST_CASE(obsolete_line_folding_is_400) {
  auto out = exchange(server->port(),
                      "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n  continued\r\n\r\n");
  BOOST_TEST(starts_with(out, "HTTP/1.1 400"), out.substr(0, 80));
  BOOST_TEST(out.find("folding") != std::string::npos);
}

// A request whose lines ended with a bare LF got no answer until the read timeout.
BOOST_AUTO_TEST_CASE(a_header_with_bare_lf_line_ends_is_answered_400_at_once_and_closed) {
  for (std::string bytes : {std::string("GET /healthz HTTP/1.1\nHost: x\n\n"),
                            std::string("GET /healthz HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n"),
                            std::string("\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
                            std::string("GET /healthz HTTP/1.1\nHost: x\n")}) {
    raw_conn c(server->port());
    c.send(bytes);
    // Long past any answer the server gives at once, far short of its read timeout.
    std::string out = c.read_all(5000);
    BOOST_TEST(starts_with(out, "HTTP/1.1 400"), out.substr(0, 80));
    BOOST_TEST(out.find("bare LF") != std::string::npos, out);
    BOOST_TEST(c.closed());
  }
  require_alive(*this);
}

BOOST_AUTO_TEST_CASE(absolute_form_request_targets_are_served) {
  auto port = std::to_string(server->port());
  auto out = exchange(server->port(), "GET http://127.0.0.1:" + port +
                                          "/v1/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                          "Connection: close\r\n\r\n");
  BOOST_TEST(starts_with(out, "HTTP/1.1 200"), out.substr(0, 80));
  auto keyed = exchange(server->port(),
                        "GET HTTP://localhost/passthrough-referrers?account_id=acme HTTP/1.1\r\n"
                        "Host: localhost\r\nAuthorization: Bearer " +
                            std::string(admin_secret) + "\r\nConnection: close\r\n\r\n");
  BOOST_TEST(starts_with(keyed, "HTTP/1.1 200"), keyed.substr(0, 80));
}

BOOST_AUTO_TEST_CASE(empty_lines_before_a_request_are_ignored) {
  auto out = exchange(server->port(),
                      "\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  BOOST_TEST(starts_with(out, "HTTP/1.1 200"), out.substr(0, 80));
}

// A connection that ends with its answer (Connection: close) leaves nothing behind: a stop
// finds no request open and does not wait out its drain timeout (it once held its own
// request's answer function, which held the connection).
BOOST_FIXTURE_TEST_CASE(connections_closed_after_their_answer_do_not_hold_up_a_stop,
                        in_process_fixture) {
  start([](referrald::http::server_options& s, referrald::actors::runtime_options&) {
    s.drain_timeout = std::chrono::seconds(60);
  });
  for (int i = 0; i < 3; ++i) {
    auto out = exchange(server->port(),
                        "GET /passthrough-referrers?account_id=acme HTTP/1.1\r\n"
                        "Host: x\r\nConnection: close\r\nAuthorization: Bearer " +
                            std::string(admin_secret) + "\r\n\r\n");
    BOOST_TEST(starts_with(out, "HTTP/1.1 200"), out.substr(0, 80));
  }
  auto began = std::chrono::steady_clock::now();
  server.reset();
  auto took =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - began);
  BOOST_TEST(took.count() < 30);
}

// Timeouts run on the server's clock, which the test moves; one I/O thread, whose sweep
// checks both connections at once.
BOOST_FIXTURE_TEST_CASE(a_slowly_sent_header_is_cut_off_at_the_read_timeout_not_the_idle_one,
                        in_process_fixture) {
  start([](referrald::http::server_options& s, referrald::actors::runtime_options&) {
    s.io_threads = 1;
    s.read_timeout = std::chrono::milliseconds(1000);
    s.idle_timeout = std::chrono::milliseconds(8000);
  });
  // A keep-alive connection between two requests.
  http_client idle(server->port());
  BOOST_TEST(idle.get("/healthz").status == 200u);
  // A header that keeps coming, a byte at a time, and is not whole at the read timeout.
  raw_conn c(server->port());
  BOOST_REQUIRE(c.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ") > 0u);
  auto moved = std::chrono::milliseconds(0);
  bool cut = eventually(
      [&] {
        c.read_all(20);
        if (c.closed()) return true;
        clock.advance(std::chrono::milliseconds(250));
        moved += std::chrono::milliseconds(250);
        c.send("a", 100);
        return false;
      },
      std::chrono::seconds(10), std::chrono::milliseconds(50));
  BOOST_TEST(cut);
  // Cut at the read timeout (a second after its first byte, give or take the time the server
  // took to read it), far from the idle timeout.
  BOOST_TEST(moved.count() >= 1000);
  BOOST_TEST(moved.count() <= 3000);
  // The same sweep found the idle connection within its idle timeout: it is not cut by the
  // read timeout.
  BOOST_TEST(idle.get("/healthz").status == 200u);
  BOOST_TEST(idle.connections_opened() == 1);
}

BOOST_AUTO_TEST_CASE(responses_carry_a_date_header) {
  http_client c(server->port());
  auto r = c.get("/healthz");
  std::string date = r.header("date");
  BOOST_TEST(date.size() == 29u, date);
  BOOST_TEST(date.substr(date.size() - 4) == " GMT");
}

BOOST_AUTO_TEST_CASE(a_response_holding_a_secret_is_not_cacheable) {
  auto c = client();
  auto r = c->post("/api-keys", R"({"name":"t","role":"viewer","accounts":["*"],"brands":[]})");
  BOOST_REQUIRE(r.status == 201u);
  BOOST_TEST(r.header("cache-control") == "no-store");
}

BOOST_AUTO_TEST_CASE(a_put_to_a_known_route_is_counted_under_that_route) {
  auto c = client();
  BOOST_TEST(c->request("PUT", "/passthrough-referrers?account_id=acme", "{}").status == 405u);
  http_client anon(server->port());
  auto m = anon.get("/metrics").body;
  BOOST_TEST(m.find("referrald_http_requests_total{route=\"/passthrough-referrers\","
                    "method=\"PUT\",status=\"405\"} 1") != std::string::npos);
  BOOST_TEST(m.find("route=\"unmatched\",method=\"any\",status=\"405\"") == std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
