#include "tests/support/fault_proxy.hpp"

#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <deque>
#include <exception>
#include <future>
#include <thread>
#include <unordered_set>
#include <vector>

namespace referrald::testing {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
using steady = std::chrono::steady_clock;

namespace {

enum class mode { pass, delay, drop, cut };

constexpr std::size_t chunk_size = 16 * 1024;

}  // namespace

// Everything below is owned by the I/O thread, except the atomic counters (any thread).
struct fault_proxy::impl {
  struct session;

  net::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  net::steady_timer accept_retry{ioc};
  tcp::endpoint target;
  std::thread thread;

  mode current = mode::pass;
  std::chrono::milliseconds hold{0};
  bool stopping = false;
  std::unordered_set<std::shared_ptr<session>> sessions;

  std::atomic<std::uint64_t> accepted{0}, refused{0}, open{0}, to_target{0}, from_target{0},
      discarded{0};

  void accept();
  void apply(mode m, std::chrono::milliseconds d);
  void shutdown();

  // Runs `fn` on the I/O thread and returns when it has run; rethrows what it threw.
  // Never called on the I/O thread.
  template <typename Fn>
  void run_sync(Fn fn) {
    std::promise<void> done;
    auto finished = done.get_future();
    net::post(ioc, [&] {
      try {
        fn();
        done.set_value();
      } catch (...) {
        done.set_exception(std::current_exception());
      }
    });
    finished.get();
  }
};

// One accepted connection and its connection to the target. `up` carries the connecting
// side's bytes to the target, `down` the target's bytes back.
struct fault_proxy::impl::session : std::enable_shared_from_this<session> {
  struct chunk {
    std::vector<char> bytes;
    steady::time_point read_at;
  };
  struct direction {
    direction(tcp::socket& f, tcp::socket& t, std::atomic<std::uint64_t>& counter)
        : from(f), to(t), forwarded(counter), timer(f.get_executor()) {}
    tcp::socket& from;
    tcp::socket& to;
    std::atomic<std::uint64_t>& forwarded;
    std::array<char, chunk_size> buffer{};
    std::deque<chunk> queue;  // front() is being written while `writing`
    std::size_t queued = 0;
    net::steady_timer timer;
    bool reading = false;
    bool waiting = false;  // for the front chunk's time under delay()
    bool writing = false;
    bool eof = false;   // `from` sends no more (EOF or a read error)
    bool shut = false;  // the EOF was forwarded to `to`
  };

  session(impl& o, tcp::socket s)
      : owner(o),
        client(std::move(s)),
        target(o.ioc),
        up(client, target, o.to_target),
        down(target, client, o.from_target) {}

  impl& owner;
  tcp::socket client;
  tcp::socket target;
  direction up;
  direction down;
  bool connected = false;    // the connect to the target has finished
  bool target_down = false;  // ...and failed (kept open only while dropped)
  bool lost = false;         // bytes were discarded: closed when the partition ends
  bool closed = false;

  void start() {
    target.async_connect(owner.target, [self = shared_from_this()](const error_code& ec) {
      if (self->closed) return;
      self->connected = true;
      // Bytes go on as they come, as on a direct connection (Nagle's algorithm would hold
      // small writes back until the peer's delayed acknowledgement: tens of ms each).
      error_code ignored;
      self->client.set_option(tcp::no_delay(true), ignored);
      if (!ec) self->target.set_option(tcp::no_delay(true), ignored);
      if (ec) {
        if (self->owner.current != mode::drop) return self->close();
        self->target_down = true;
        self->lost = true;
      }
      self->read(self->up);
      self->read(self->down);
    });
  }

  void read(direction& d) {
    if (closed || !connected || d.reading || d.eof) return;
    if (&d == &down && target_down) return;
    if (owner.current != mode::drop && d.queued >= max_queued) return;
    d.reading = true;
    d.from.async_read_some(net::buffer(d.buffer),
                           [self = shared_from_this(), &d](const error_code& ec, std::size_t n) {
                             d.reading = false;
                             self->on_read(d, ec, n);
                           });
  }

  void on_read(direction& d, const error_code& ec, std::size_t n) {
    if (closed) return;
    if (n > 0) {
      if (owner.current == mode::drop) {
        owner.discarded += n;
        lost = true;
      } else {
        d.queue.push_back(
            {std::vector<char>(d.buffer.begin(), d.buffer.begin() + n), steady::now()});
        d.queued += n;
      }
    }
    if (ec) {
      d.eof = true;
      if (owner.current == mode::drop) {
        if (up.eof && (down.eof || target_down)) close();  // both sides are gone
        return;
      }
      if (ec != net::error::eof) return close();
    }
    pump(d);
    read(d);
  }

  // Writes the front chunk when it is due; forwards the EOF once the queue is empty.
  void pump(direction& d) {
    if (closed || d.writing || d.waiting || owner.current == mode::drop) return;
    if (d.queue.empty()) {
      if (d.eof && !d.shut) {
        d.shut = true;
        error_code ignored;
        d.to.shutdown(tcp::socket::shutdown_send, ignored);  // a peer already gone is fine
        if (up.shut && down.shut) close();
      }
      return;
    }
    auto due = d.queue.front().read_at;
    if (owner.current == mode::delay) due += owner.hold;
    if (due > steady::now()) {
      d.waiting = true;
      d.timer.expires_at(due);
      d.timer.async_wait([self = shared_from_this(), &d](const error_code&) {
        d.waiting = false;
        self->pump(d);
      });
      return;
    }
    d.writing = true;
    net::async_write(d.to, net::buffer(d.queue.front().bytes),
                     [self = shared_from_this(), &d](const error_code& ec, std::size_t n) {
                       d.writing = false;
                       if (self->closed) return;
                       if (ec) return self->close();
                       d.forwarded += n;
                       d.queued -= d.queue.front().bytes.size();
                       d.queue.pop_front();
                       self->pump(d);
                       self->read(d);
                     });
  }

  // Drops what `d` holds, except a chunk a write has already taken.
  void discard(direction& d) {
    std::size_t keep = d.writing ? 1 : 0;
    while (d.queue.size() > keep) {
      auto n = d.queue.back().bytes.size();
      d.queue.pop_back();
      d.queued -= n;
      owner.discarded += n;
      lost = true;
    }
    d.timer.cancel();
  }

  void close() {
    if (closed) return;
    closed = true;
    error_code ignored;  // closing a socket whose peer is gone is fine
    client.close(ignored);
    target.close(ignored);
    up.timer.cancel();
    down.timer.cancel();
    --owner.open;
    owner.sessions.erase(shared_from_this());
  }
};

void fault_proxy::impl::accept() {
  acceptor.async_accept([this](const error_code& ec, tcp::socket s) {
    if (stopping) return;
    if (ec) {
      // Out of descriptors and the like: try again shortly rather than spin.
      accept_retry.expires_after(std::chrono::milliseconds(50));
      accept_retry.async_wait([this](const error_code& e) {
        if (!e && !stopping) accept();
      });
      return;
    }
    ++accepted;
    if (current == mode::cut || sessions.size() >= max_connections) {
      ++refused;
      error_code ignored;
      s.close(ignored);
    } else {
      auto se = std::make_shared<session>(*this, std::move(s));
      sessions.insert(se);
      ++open;
      se->start();
    }
    accept();
  });
}

void fault_proxy::impl::apply(mode m, std::chrono::milliseconds d) {
  mode before = current;
  current = m;
  hold = d;
  std::vector<std::shared_ptr<session>> all(sessions.begin(), sessions.end());
  for (auto& s : all) {
    switch (m) {
      case mode::cut:
        s->close();
        break;
      case mode::drop:
        s->discard(s->up);
        s->discard(s->down);
        s->read(s->up);
        s->read(s->down);
        break;
      case mode::pass:
      case mode::delay:
        if (before == mode::drop && s->lost) {
          s->close();
          break;
        }
        s->up.timer.cancel();  // a waiting chunk's time is measured again
        s->down.timer.cancel();
        s->pump(s->up);
        s->pump(s->down);
        s->read(s->up);
        s->read(s->down);
        break;
    }
  }
}

void fault_proxy::impl::shutdown() {
  stopping = true;
  error_code ignored;
  acceptor.close(ignored);
  accept_retry.cancel();
  std::vector<std::shared_ptr<session>> all(sessions.begin(), sessions.end());
  for (auto& s : all)
    s->close();
}

fault_proxy::fault_proxy(std::uint16_t target_port)
    : target_port_(target_port), impl_(std::make_unique<impl>()) {
  auto& p = *impl_;
  auto loopback = net::ip::address_v4::loopback();
  p.target = tcp::endpoint(loopback, target_port);
  tcp::endpoint listen_at(loopback, 0);
  p.acceptor.open(listen_at.protocol());
  p.acceptor.set_option(tcp::acceptor::reuse_address(true));
  p.acceptor.bind(listen_at);
  p.acceptor.listen();
  port_ = p.acceptor.local_endpoint().port();
  p.accept();
  p.thread = std::thread([&p] {
    for (;;) {
      try {
        p.ioc.run();  // returns once shutdown() has closed everything
        return;
      } catch (...) {
        // A handler ran out of memory: the connection it served is abandoned, the rest go on.
      }
    }
  });
}

fault_proxy::~fault_proxy() {
  try {
    impl_->run_sync([p = impl_.get()] { p->shutdown(); });
  } catch (...) {
    impl_->ioc.stop();
  }
  impl_->thread.join();
}

void fault_proxy::pass() {
  impl_->run_sync([p = impl_.get()] { p->apply(mode::pass, {}); });
}

void fault_proxy::delay(std::chrono::milliseconds d) {
  impl_->run_sync([p = impl_.get(), d] { p->apply(mode::delay, d); });
}

void fault_proxy::drop() {
  impl_->run_sync([p = impl_.get()] { p->apply(mode::drop, {}); });
}

void fault_proxy::cut() {
  impl_->run_sync([p = impl_.get()] { p->apply(mode::cut, {}); });
}

fault_proxy::counters fault_proxy::stats() const {
  const auto& p = *impl_;
  counters c;
  c.accepted = p.accepted;
  c.refused = p.refused;
  c.open = p.open;
  c.bytes_to_target = p.to_target;
  c.bytes_from_target = p.from_target;
  c.bytes_discarded = p.discarded;
  return c;
}

}  // namespace referrald::testing
