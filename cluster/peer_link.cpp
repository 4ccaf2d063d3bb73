#include "cluster/peer_link.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cluster/peer_frames.hpp"
#include "domain/base/text.hpp"
#include "infra/log.hpp"
#include "infra/metrics.hpp"
#include "infra/thread_name.hpp"

namespace referrald::cluster {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
using peer_frames::k_max_frame;
using peer_frames::k_max_hello;

constexpr auto k_working_every = std::chrono::seconds(1);
constexpr auto k_sweep_every = std::chrono::milliseconds(100);
// An accepted connection must say hello within this; a refused one is closed this long after
// its refusal, whether or not the sender closed it.
constexpr auto k_hello_within = std::chrono::seconds(5);
constexpr auto k_refusal_read_within = std::chrono::seconds(2);

// Equal strings, in a time that does not depend on where they differ.
bool same_secret(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ b[i % (b.empty() ? 1 : b.size())]);
  return diff == 0 && !b.empty();
}

// Text the other side chose, as it may go into the log: printable ASCII, at most 100 bytes.
std::string printable(std::string_view text) {
  std::string out;
  for (char ch : text.substr(0, 100))
    out += ch >= 0x20 && ch < 0x7f ? ch : '?';
  if (text.size() > 100) out += "...";
  return out;
}

std::string format_endpoint(const tcp::endpoint& ep) {
  auto a = ep.address();
  std::string host = a.to_string();
  if (a.is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(ep.port());
}

}  // namespace

struct peer_link::impl : std::enable_shared_from_this<peer_link::impl> {
  // One connection, accepted (an owner's) or made (a sender's).
  struct conn : std::enable_shared_from_this<conn> {
    conn(asio::io_context& c, bool made) : ioc(&c), sock(c), outgoing(made) {}
    // The loop the connection is read, written, connected and closed on: the link's own (the
    // link holds it until its thread has ended every connection on it), or one of
    // peer_options::loops (which outlive the link, and the handlers holding a connection).
    asio::io_context* ioc;
    tcp::socket sock;
    const bool outgoing;

    std::mutex mu;
    std::string out;       // frames not yet handed to the kernel
    bool writing = false;  // a flush on the link's thread owns the writing
    bool closed = false;
    bool close_after_flush = false;
    std::string sending;  // the link's thread's
    std::string in;       // the link's thread's: bytes read and not yet framed
    std::array<char, 65536> chunk{};

    // An owner's: the hello checked, and the requests taken and not answered yet, with
    // when each was last told "taken" or "working".
    bool hello_ok = false;
    std::unordered_map<std::uint64_t, steady::time_point> running;
    // Ended by the sweep when this passes: the hello's bound, or the refusal's to be read.
    steady::time_point end_at = steady::time_point::max();

    // A sender's.
    enum class state { connecting, ready, refused };
    state st = state::connecting;
    struct waiting {
      std::function<void(result)> done;
      bool taken = false;
      steady::time_point deadline;
      std::chrono::milliseconds answer_within{0};
    };
    std::unordered_map<std::uint64_t, waiting> pending;
    std::uint64_t next_id = 1;
    std::string queued;    // frames made while connecting
    std::string key;       // in the link's map of connections
    std::string owner;     // the member name it reaches
    std::string address;   // and where
    bool retired = false;  // see impl::retired
    // A sender's: a reply came on it since the last sweep (the owner is answering).
    bool heard = false;
    std::unique_ptr<tcp::resolver> resolver;            // while connecting
    std::unique_ptr<asio::steady_timer> connect_timer;  // while connecting

    // Hands `bytes` to the kernel now when nothing is queued before them, else queues them
    // for the link's thread. Under mu.
    void write_locked(std::string bytes) {
      if (closed) return;
      if (!writing && out.empty()) {
        ssize_t n =
            ::send(sock.native_handle(), bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n == static_cast<ssize_t>(bytes.size())) return;
        if (n < 0) {
          if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            // The reader finds the connection broken and ends it.
            ::shutdown(sock.native_handle(), SHUT_RDWR);
            return;
          }
          n = 0;
        }
        out.append(bytes, static_cast<std::size_t>(n));
      } else {
        out += bytes;
      }
      if (!writing) {
        writing = true;
        asio::post(*ioc, [self = shared_from_this()] { self->flush(); });
      }
    }

    // On the link's thread: writes what is queued, until nothing is.
    void flush() {
      {
        std::lock_guard lock(mu);
        if (closed) {
          writing = false;
          return;
        }
        sending.clear();
        sending.swap(out);
        if (sending.empty()) {
          writing = false;
          if (close_after_flush) {
            boost::system::error_code ec;
            sock.shutdown(tcp::socket::shutdown_send, ec);
          }
          return;
        }
      }
      asio::async_write(sock, asio::buffer(sending),
                        [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                          if (ec) {
                            ::shutdown(self->sock.native_handle(), SHUT_RDWR);
                            std::lock_guard lock(self->mu);
                            self->writing = false;
                            return;
                          }
                          self->flush();
                        });
    }
  };

  explicit impl(peer_options opts) : o(std::move(opts)), acceptor(*ioc), sweeper(*ioc) {}

  peer_options o;
  std::shared_ptr<asio::io_context> ioc = std::make_shared<asio::io_context>(1);
  tcp::acceptor acceptor;
  asio::steady_timer sweeper;
  std::thread thread;

  std::mutex mu;
  std::string secret;
  serve_fn serve;
  bool serving = false;
  bool closing = false;
  std::vector<std::weak_ptr<conn>> accepted;
  std::size_t next_loop_at = 0;                                 // the link's thread's
  std::unordered_map<std::string, std::shared_ptr<conn>> made;  // by owner " " address
  // Connections that let a request's take bound pass without "taken": no longer sent on
  // (the next request to their owner opens a new one), ended once nothing waits on them.
  std::vector<std::shared_ptr<conn>> retired;
  asio::steady_timer accept_pause{*ioc};  // after an accept that failed (no descriptors left)
  steady::time_point last_refusal_logged{};

  // The loop a new connection runs on: the given loops in turn, else the link's own.
  asio::io_context* next_loop() {
    if (o.loops.empty()) return ioc.get();
    return o.loops[next_loop_at++ % o.loops.size()];
  }
  // The loop of the thread calling, when it runs one of the given loops.
  std::optional<std::size_t> calling_loop() const {
    for (std::size_t i = 0; i < o.loops.size(); ++i)
      if (o.loops[i]->get_executor().running_in_this_thread()) return i;
    return std::nullopt;
  }

  void accept() {
    auto loop = next_loop();
    acceptor.async_accept(
        *loop, [self = shared_from_this(), loop](boost::system::error_code ec, tcp::socket s) {
          if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) return;
          if (ec) {
            // The listening socket stays readable while, say, no descriptor is left: accepting
            // again at once would spin.
            self->accept_pause.expires_after(std::chrono::milliseconds(100));
            self->accept_pause.async_wait([self](boost::system::error_code wec) {
              if (!wec && self->acceptor.is_open()) self->accept();
            });
            return;
          }
          {
            auto c = std::make_shared<conn>(*loop, false);
            c->sock = std::move(s);
            c->end_at = steady::now() + k_hello_within;
            boost::system::error_code ignored;
            c->sock.set_option(tcp::no_delay(true), ignored);
            {
              std::lock_guard lock(self->mu);
              std::erase_if(self->accepted, [](const auto& w) { return w.expired(); });
              self->accepted.push_back(c);
            }
            asio::post(*loop, [self, c] { self->read(c); });
          }
          self->accept();
        });
  }

  void read(const std::shared_ptr<conn>& c) {
    c->sock.async_read_some(
        asio::buffer(c->chunk),
        [self = shared_from_this(), c](boost::system::error_code ec, std::size_t n) {
          if (ec) return self->end(c);
          c->in.append(c->chunk.data(), n);
          std::size_t at = 0;
          for (;;) {
            peer_frames::frame f;
            std::size_t used = 0;
            auto max = c->outgoing || c->hello_ok ? k_max_frame : k_max_hello;
            auto st = peer_frames::next(std::string_view(c->in).substr(at), max, f, used);
            if (st == peer_frames::step::partial) break;
            if (st == peer_frames::step::invalid) return self->end(c);
            at += used;
            bool go_on = c->outgoing ? self->on_reply(c, f.kind, f.id, f.payload)
                                     : self->on_request(c, f.kind, f.id, f.payload);
            if (!go_on) return self->end(c);
          }
          c->in.erase(0, at);
          self->read(c);
        });
  }

  // An owner's: one frame from a sender. False ends the connection.
  bool on_request(const std::shared_ptr<conn>& c, char kind, std::uint64_t id,
                  std::string_view payload) {
    {
      std::lock_guard lock(c->mu);
      if (c->close_after_flush) return true;  // refused: what follows the hello is ignored
    }
    if (!c->hello_ok) {
      if (kind != 'H') return false;
      std::string why;
      std::string expected_secret;
      {
        std::lock_guard lock(mu);
        expected_secret = secret;
      }
      auto h = peer_frames::read_hello(payload);
      if (!h) {
        why = "not a referrald peer hello of version 1";
      } else if (h->owner != o.node) {
        why = "this is node " + o.node + ", not " + printable(h->owner);
      } else if (expected_secret.empty()) {
        why = "this node does not take writes yet";
      } else if (!same_secret(h->secret, expected_secret)) {
        why = "wrong peer secret";
      }
      if (why.empty()) {
        c->hello_ok = true;
        std::lock_guard lock(c->mu);
        c->end_at = steady::time_point::max();
        return true;
      }
      refused_hello(c, why);
      std::lock_guard lock(c->mu);
      c->write_locked(peer_frames::make('X', 0, why));
      c->close_after_flush = true;
      c->end_at = steady::now() + k_refusal_read_within;
      if (!c->writing) {
        c->writing = true;
        asio::post(*c->ioc, [c] { c->flush(); });
      }
      return true;  // reads on until the sender closes; every later frame is ignored
    }
    if (kind != 'Q') return false;
    auto q = peer_frames::read_request(payload);
    if (!q) return false;
    serve_fn fn;
    {
      std::lock_guard lock(mu);
      if (serving) fn = serve;
    }
    bool take = fn && (!o.linked || o.linked());
    {
      std::lock_guard lock(c->mu);
      if (!take) {
        c->write_locked(peer_frames::make('R', id));
        return true;
      }
      c->running[id] = steady::now();
      c->write_locked(peer_frames::make('T', id));
    }
    // Answered once; an answer function dropped unanswered (it should not be) ends the
    // "working" all the same.
    struct once {
      std::weak_ptr<conn> c;
      std::uint64_t id = 0;
      bool answered = false;
      ~once() {
        if (answered) return;
        if (auto p = c.lock()) {
          std::lock_guard lock(p->mu);
          p->running.erase(id);
        }
      }
    };
    auto guard = std::make_shared<once>();
    guard->c = c;
    guard->id = id;
    fn(std::string(q->http), std::string(q->remote),
       [guard](std::string response, std::uint64_t applied) {
         guard->answered = true;
         auto p = guard->c.lock();
         if (!p) return;
         std::string f = peer_frames::answer(guard->id, applied, response);
         std::lock_guard lock(p->mu);
         if (p->running.erase(guard->id) == 0) return;
         p->write_locked(std::move(f));
       });
    return true;
  }

  void refused_hello(const std::shared_ptr<conn>& c, const std::string& why) {
    infra::metrics().cluster_peer_hellos_refused.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(mu);
    auto now = steady::now();
    if (now - last_refusal_logged < std::chrono::seconds(10)) return;
    last_refusal_logged = now;
    boost::system::error_code ec;
    auto from = c->sock.remote_endpoint(ec);
    infra::log(infra::log_level::warn, "peer link: refused a connection from " +
                                           (ec ? std::string("?") : format_endpoint(from)) + ": " +
                                           why);
  }

  // A sender's: one frame from the owner. False ends the connection.
  bool on_reply(const std::shared_ptr<conn>& c, char kind, std::uint64_t id,
                std::string_view payload) {
    if (kind == 'X') {
      infra::log(infra::log_level::warn, "peer link: " + c->address +
                                             " refused this node: " + printable(payload) +
                                             " (its writes go over NATS for now)");
      std::lock_guard lock(c->mu);
      c->st = conn::state::refused;
      return false;
    }
    std::function<void(result)> done;
    result r;
    {
      std::lock_guard lock(c->mu);
      c->heard = true;
      auto it = c->pending.find(id);
      if (it == c->pending.end()) return true;  // given up on already
      switch (kind) {
        case 'T':
        case 'W':
          it->second.taken = true;
          it->second.deadline = steady::now() + it->second.answer_within;
          return true;
        case 'A': {
          auto a = peer_frames::read_answer(payload);
          if (!a) return false;
          r.how = outcome::answered;
          r.applied = a->applied;
          r.response = a->response;
        } break;
        case 'R':
          r.how = outcome::not_taken;
          break;
        default:
          return false;
      }
      done = std::move(it->second.done);
      c->pending.erase(it);
    }
    done(std::move(r));
    return true;
  }

  // Ends a connection, from any thread: what waits on it is told how it ended, and its
  // socket is closed on its loop.
  void end(const std::shared_ptr<conn>& c) {
    std::unordered_map<std::uint64_t, conn::waiting> pending;
    bool refused = false;
    bool never_ready = false;
    {
      std::lock_guard lock(c->mu);
      if (c->closed) return;
      c->closed = true;  // from now on no frame is handed to the kernel
      c->running.clear();
      pending.swap(c->pending);
      refused = c->st == conn::state::refused;
      never_ready = c->st == conn::state::connecting;
    }
    asio::dispatch(*c->ioc, [c] {
      boost::system::error_code ec;
      c->sock.close(ec);
      if (c->resolver) c->resolver->cancel();
      if (c->connect_timer) c->connect_timer->cancel();
    });
    bool stopping = false;
    if (c->outgoing) {
      std::lock_guard lock(mu);
      stopping = closing;
      if (auto it = made.find(c->key); it != made.end() && it->second == c) made.erase(it);
      std::erase(retired, c);
    }
    for (auto& [id, w] : pending) {
      result r;
      if (stopping) {
        r.how = w.taken ? outcome::timed_out : outcome::not_taken;
      } else if (refused || never_ready) {
        r.how = outcome::unreachable;  // nothing reached the owner
      } else {
        r.how = w.taken ? outcome::timed_out : outcome::not_taken;
      }
      w.done(std::move(r));
    }
  }

  static bool still_connecting(conn& c) {
    std::lock_guard lock(c.mu);
    return !c.closed && c.st == conn::state::connecting;
  }

  void connect(const std::shared_ptr<conn>& c, const std::string& address,
               std::chrono::milliseconds within) {
    auto hp = domain::split_host_port(address);
    if (!hp) return end(c);
    {
      std::lock_guard lock(c->mu);
      if (c->closed) return;
    }
    c->resolver = std::make_unique<tcp::resolver>(*c->ioc);
    c->connect_timer = std::make_unique<asio::steady_timer>(*c->ioc, within);
    c->connect_timer->async_wait([self = shared_from_this(), c](boost::system::error_code ec) {
      if (!ec && still_connecting(*c)) self->end(c);  // not connected within the bound
    });
    c->resolver->async_resolve(
        hp->host, hp->port, tcp::resolver::numeric_service,
        [self = shared_from_this(), c](boost::system::error_code ec,
                                       tcp::resolver::results_type found) {
          // Ended meanwhile (a resolve cannot always be cancelled): no connection is made.
          if (ec || !still_connecting(*c)) return self->end(c);
          asio::async_connect(c->sock, found,
                              [self, c](boost::system::error_code cec, const tcp::endpoint&) {
                                if (!still_connecting(*c)) {
                                  boost::system::error_code ignored;
                                  c->sock.close(ignored);  // made after its end
                                  return;
                                }
                                if (cec) return self->end(c);
                                c->connect_timer->cancel();
                                self->connected(c);
                              });
        });
  }

  void connected(const std::shared_ptr<conn>& c) {
    boost::system::error_code ignored;
    c->sock.set_option(tcp::no_delay(true), ignored);
    const std::string& owner = c->owner;
    std::string hello;
    {
      std::lock_guard lock(mu);
      hello = peer_frames::hello(owner, secret);
    }
    {
      std::lock_guard lock(c->mu);
      if (c->closed) return;
      c->st = conn::state::ready;
      c->out = std::move(hello) + std::exchange(c->queued, {});
      c->writing = true;
    }
    c->flush();
    read(c);
  }

  // Every k_sweep_every on the link's thread: the senders' bounds, the owners' "working".
  // A connection's own reading, writing and connecting run on its loop.
  void sweep() {
    sweeper.expires_after(k_sweep_every);
    sweeper.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return;
      {
        std::lock_guard lock(self->mu);
        if (self->closing) return;
      }
      self->sweep_now();
      self->sweep();
    });
  }

  void sweep_now() {
    std::vector<std::shared_ptr<conn>> conns;
    {
      std::lock_guard lock(mu);
      for (auto& [key, c] : made)
        conns.push_back(c);
      for (auto& c : retired)
        conns.push_back(c);
      for (auto& w : accepted)
        if (auto c = w.lock()) conns.push_back(std::move(c));
    }
    auto now = steady::now();
    struct ending {
      std::function<void(result)> done;
      outcome how;
      bool silent;
    };
    std::vector<ending> ended;
    std::vector<std::shared_ptr<conn>> to_end, to_retire;
    for (auto& c : conns) {
      std::lock_guard lock(c->mu);
      if (c->closed) continue;
      if (now >= c->end_at) {
        to_end.push_back(c);
        continue;
      }
      if (!c->outgoing) {
        for (auto& [id, last] : c->running) {
          if (now - last < k_working_every) continue;
          last = now;
          c->write_locked(peer_frames::make('W', id));
        }
        continue;
      }
      bool untaken = false;
      for (auto it = c->pending.begin(); it != c->pending.end();) {
        if (now < it->second.deadline) {
          ++it;
          continue;
        }
        if (c->st == conn::state::connecting) {
          untaken = true;  // not connected within a request's bound: ended below, unsent
          break;
        }
        untaken = untaken || !it->second.taken;
        ended.push_back({std::move(it->second.done),
                         it->second.taken ? outcome::timed_out : outcome::not_taken,
                         !it->second.taken && !c->heard});
        it = c->pending.erase(it);
      }
      c->heard = false;
      if (untaken && c->st == conn::state::connecting) {
        to_end.push_back(c);
      } else if (untaken) {
        to_retire.push_back(c);
      } else if (c->retired && c->pending.empty()) {
        to_end.push_back(c);
      }
    }
    for (auto& e : ended) {
      result r;
      r.how = e.how;
      r.silent = e.silent;
      e.done(std::move(r));
    }
    for (auto& c : to_retire) {
      {
        std::lock_guard lock(c->mu);
        c->retired = true;
      }
      std::lock_guard lock(mu);
      if (auto it = made.find(c->key); it != made.end() && it->second == c) made.erase(it);
      if (std::find(retired.begin(), retired.end(), c) == retired.end()) retired.push_back(c);
    }
    for (auto& c : to_end)
      end(c);
  }
};

peer_link::peer_link(std::shared_ptr<impl> p) : impl_(std::move(p)) {}

domain::result<std::unique_ptr<peer_link>> peer_link::open(peer_options o) {
  auto p = std::make_shared<impl>(std::move(o));
  std::string where = p->o.listen_host + ":" + std::to_string(p->o.listen_port);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(p->o.listen_host, ec);
  if (ec) {
    // A name (localhost): its first address.
    tcp::resolver resolver(*p->ioc);
    auto found = resolver.resolve(p->o.listen_host, "0", ec);
    if (ec || found.empty()) {
      return domain::make_error(
          domain::errc::bad_request,
          "the peer link's host '" + p->o.listen_host + "' is not an address of this machine");
    }
    address = found.begin()->endpoint().address();
  }
  tcp::endpoint ep(address, p->o.listen_port);
  p->acceptor.open(ep.protocol(), ec);
  if (!ec) p->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) p->acceptor.bind(ep, ec);
  if (!ec) p->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return domain::make_error(domain::errc::bad_request,
                              "cannot listen on " + where + " for the peer link: " + ec.message());
  }
  p->accept();
  p->sweep();
  p->thread = std::thread([p] {
    infra::name_thread("cluster.peer");
    for (;;) {
      try {
        p->ioc->run();
        return;
      } catch (const std::exception& e) {
        infra::log(infra::log_level::error, std::string("peer link: ") + e.what());
      }
    }
  });
  return std::unique_ptr<peer_link>(new peer_link(std::move(p)));
}

peer_link::~peer_link() {
  auto p = impl_;
  {
    std::lock_guard lock(p->mu);
    p->closing = true;
    p->serving = false;
  }
  // Everything that waits on the thread is ended, so that it runs out of work and returns:
  // no handler is left holding the link.
  asio::post(*p->ioc, [p] {
    boost::system::error_code ec;
    p->acceptor.close(ec);
    p->sweeper.cancel();
    p->accept_pause.cancel();
    std::vector<std::shared_ptr<impl::conn>> conns;
    {
      std::lock_guard lock(p->mu);
      for (auto& [key, c] : p->made)
        conns.push_back(c);
      for (auto& c : p->retired)
        conns.push_back(c);
      for (auto& w : p->accepted)
        if (auto c = w.lock()) conns.push_back(std::move(c));
    }
    for (auto& c : conns)
      p->end(c);
  });
  if (p->thread.joinable()) p->thread.join();
}

std::string peer_link::bound() const {
  boost::system::error_code ec;
  auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? std::string() : format_endpoint(ep);
}

void peer_link::serve(std::string secret, serve_fn fn) {
  std::lock_guard lock(impl_->mu);
  impl_->secret = std::move(secret);
  impl_->serve = std::move(fn);
  impl_->serving = true;
}

void peer_link::stop_serving() {
  std::lock_guard lock(impl_->mu);
  impl_->serving = false;
}

void peer_link::send(const std::string& address, const std::string& owner, std::string_view request,
                     std::string_view remote, std::chrono::milliseconds take_within,
                     std::chrono::milliseconds answer_within, std::function<void(result)> done) {
  auto& p = *impl_;
  // A connection of the caller's own loop, so that its replies are read on the thread that
  // waits for them.
  auto at = p.calling_loop();
  asio::io_context* loop = at ? p.o.loops[*at] : p.ioc.get();
  std::string key = owner + " " + address + " " + (at ? std::to_string(*at) : std::string("-"));
  for (;;) {
    std::shared_ptr<impl::conn> c;
    bool fresh = false;
    std::optional<outcome> early;
    {
      std::lock_guard lock(p.mu);
      if (p.closing) {
        early = outcome::not_taken;
      } else if (p.secret.empty() || !peer_frames::request_fits(remote.size(), request.size())) {
        early = outcome::unreachable;
      } else {
        auto& slot = p.made[key];
        bool usable = false;
        if (slot) {
          std::lock_guard conn_lock(slot->mu);
          usable = !slot->closed;
        }
        if (!usable) {
          slot = std::make_shared<impl::conn>(*loop, true);
          slot->key = key;
          slot->owner = owner;
          slot->address = address;
          fresh = true;
        }
        c = slot;
      }
    }
    if (early) {
      result r;
      r.how = *early;
      return done(std::move(r));
    }
    {
      std::lock_guard lock(c->mu);
      if (c->closed) continue;  // ended since: made anew
      std::uint64_t id = c->next_id++;
      impl::conn::waiting w;
      w.done = std::move(done);
      w.deadline = std::chrono::steady_clock::now() + take_within;
      w.answer_within = answer_within;
      c->pending.emplace(id, std::move(w));
      std::string f = peer_frames::request(id, remote, request);
      if (c->st == impl::conn::state::ready) {
        c->write_locked(std::move(f));
      } else {
        c->queued += f;
      }
    }
    if (fresh) {
      asio::post(*loop, [self = impl_, c, address, take_within] {
        self->connect(c, address, take_within);
      });
    }
    return;
  }
}

}  // namespace referrald::cluster
