#include "http/server.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <vector>

#include "http/http_metrics.hpp"

namespace referrald::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr std::size_t k_header_limit = 16 * 1024;
// Bodies sent to a path that matches no route are read up to this size, then dropped.
constexpr std::size_t k_unrouted_body_limit = 1u << 20;

method to_method(bhttp::verb v) {
  switch (v) {
    case bhttp::verb::get:
      return method::get;
    case bhttp::verb::post:
      return method::post;
    case bhttp::verb::patch:
      return method::patch;
    case bhttp::verb::put:
      return method::put;
    case bhttp::verb::delete_:
      return method::del;
    case bhttp::verb::head:
      return method::head;
    case bhttp::verb::options:
      return method::options;
    default:
      return method::other;
  }
}

std::string_view sv(beast::string_view s) {
  return {s.data(), s.size()};
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// The token of "Authorization: Bearer <token>", or empty.
std::string_view bearer_token(std::string_view header) {
  while (!header.empty() && header.front() == ' ')
    header.remove_prefix(1);
  if (header.size() < 7 || !iequals(header.substr(0, 6), "bearer") || header[6] != ' ')
    return {};
  header.remove_prefix(7);
  while (!header.empty() && header.front() == ' ')
    header.remove_prefix(1);
  while (!header.empty() && header.back() == ' ')
    header.remove_suffix(1);
  return header;
}

}  // namespace

class session;

struct server::impl : std::enable_shared_from_this<server::impl> {
  impl(server_options o, actors::runtime& rt)
      : options(std::move(o)),
        runtime(rt),
        routes(make_router(options.body_limits)),
        metrics(routes),
        acceptor(net::make_strand(ioc)),
        signals(ioc),
        drain_timer(ioc) {}

  void start_accepting();
  void on_accept(beast::error_code ec, tcp::socket socket);
  void begin_stop();
  void session_started(session* s, const std::shared_ptr<session>& p);
  void session_ended(session* s);

  server_options options;
  actors::runtime& runtime;
  router routes;
  http_metrics metrics;
  net::io_context ioc;
  tcp::acceptor acceptor;
  net::signal_set signals;
  net::steady_timer drain_timer;
  std::atomic<bool> draining{false};

  std::mutex sessions_mu;
  std::unordered_map<session*, std::weak_ptr<session>> sessions;
};

// One connection: do_read → on_header → (100-continue) → on_body → dispatch →
// complete → send → on_write → do_read ...
class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket&& socket, std::shared_ptr<server::impl> srv)
      : stream_(std::move(socket)), srv_(std::move(srv)), reply_timer_(stream_.get_executor()) {}

  ~session() { srv_->session_ended(this); }

  void start() {
    srv_->session_started(this, shared_from_this());
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&session::do_read, shared_from_this()));
  }

  // Closes the connection if it is between requests (used when the server stops).
  void close_if_idle() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->idle_)
        self->stream_.socket().cancel();
    });
  }

 private:
  void do_read() {
    if (srv_->draining)
      return do_close();
    parser_.emplace();
    parser_->header_limit(k_header_limit);
    // No limit while the header is read (Beast would otherwise judge Content-Length
    // against it before the route is known); the route's limit is set in on_header.
    parser_->body_limit(boost::none);
    idle_ = true;
    stream_.expires_after(srv_->options.idle_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             beast::bind_front_handler(&session::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, std::size_t) {
    idle_ = false;
    if (ec)
      return on_read_error(ec);
    started_ = std::chrono::steady_clock::now();
    auto& req = parser_->get();
    std::string_view target = sv(req.target());
    path_ = target.substr(0, target.find('?'));
    match_ = srv_->routes.find(to_method(req.method()), path_);

    std::size_t limit = k_unrouted_body_limit;
    if (match_.kind == router::match::found)
      limit = match_.entry->body_limit;
    auto length = parser_->content_length();
    bool has_body = (length && *length > 0) || parser_->chunked();
    if (length && *length > limit) {
      // Refuse before reading the body; the connection cannot be reused.
      close_after_ = true;
      return finish(too_large_or_unrouted(limit));
    }
    parser_->body_limit(limit);
    if (has_body && iequals(sv(req[bhttp::field::expect]), "100-continue")) {
      auto cont = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_,
                                                                       req.version());
      bhttp::async_write(stream_, *cont,
                         [self = shared_from_this(), cont](beast::error_code wec, std::size_t) {
                           if (wec)
                             return self->do_close();
                           self->read_body();
                         });
      return;
    }
    read_body();
  }

  void read_body() {
    stream_.expires_after(srv_->options.read_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&session::on_body, shared_from_this()));
  }

  void on_body(beast::error_code ec, std::size_t) {
    if (ec == bhttp::error::body_limit) {
      close_after_ = true;
      return finish(too_large_or_unrouted(parser_->get().body().size()));
    }
    if (ec)
      return on_read_error(ec);
    stream_.expires_never();
    dispatch();
  }

  void on_read_error(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == net::error::operation_aborted ||
        ec == beast::error::timeout || ec == net::error::connection_reset ||
        ec == net::error::eof) {
      return do_close();
    }
    if (ec == bhttp::error::body_limit) {
      close_after_ = true;
      return finish(too_large_or_unrouted(parser_->get().body().size()));
    }
    if (ec == bhttp::error::header_limit) {
      close_after_ = true;
      response r = failure(domain::make_error(domain::errc::payload_too_large,
                                              "the request header is larger than 16 KiB"));
      r.status = 431;
      match_ = {};
      return finish(std::move(r));
    }
    // A request Beast cannot parse: answer 400 and close.
    close_after_ = true;
    match_ = {};
    finish(failure(domain::make_error(domain::errc::validation_failed,
                                      "malformed HTTP request: " + ec.message())));
  }

  response too_large_or_unrouted(std::size_t limit) {
    if (match_.kind != router::match::found)
      return route_error();
    return failure(domain::make_error(
        domain::errc::payload_too_large,
        "the request body exceeds this endpoint's limit of " + std::to_string(limit) + " bytes"));
  }

  response route_error() {
    if (match_.kind == router::match::method_not_allowed) {
      response r = failure(domain::make_error(
          domain::errc::method_not_allowed,
          std::string(to_string(to_method(parser_->get().method()))) + " is not allowed on " +
              std::string(path_) + "; allowed: " + match_.allow));
      r.headers.emplace_back("Allow", match_.allow);
      return r;
    }
    return failure(
        domain::make_error(domain::errc::route_not_found, "no route for " + std::string(path_)));
  }

  void dispatch() {
    if (match_.kind != router::match::found)
      return finish(route_error());
    auto& req = parser_->get();
    const route& r = *match_.entry;

    request_ctx ctx;
    ctx.verb = r.verb;
    ctx.path = path_;
    ctx.params = std::move(match_.params);
    ctx.body = req.body();
    ctx.content_type = sv(req[bhttp::field::content_type]);
    ctx.runtime = &srv_->runtime;
    ctx.metrics = &srv_->metrics;

    if (!match_.error.empty()) {
      return finish(failure(domain::make_error(domain::errc::route_not_found, match_.error)));
    }
    std::string_view target = sv(req.target());
    auto q = target.find('?');
    auto query = query_params::parse(q == std::string_view::npos ? "" : target.substr(q + 1));
    if (!query)
      return finish(failure(query.err()));
    ctx.query = std::move(*query);

    if (r.access) {
      ctx.keys = srv_->runtime.keys();
      std::string_view token = bearer_token(sv(req[bhttp::field::authorization]));
      ctx.key = token.empty() ? nullptr : ctx.keys->find_by_secret(token);
      if (ctx.key == nullptr) {
        return finish(failure(domain::make_error(
            domain::errc::unauthorized,
            token.empty() ? "this endpoint needs an Authorization: Bearer <API key> header"
                          : "the API key is not valid")));
      }
      if (!domain::role_allows(ctx.key->role, *r.access)) {
        static constexpr const char* need[] = {"", "read", "write", "admin"};
        return finish(failure(domain::make_error(
            domain::errc::forbidden,
            "this API key's role (" + std::string(domain::to_string(ctx.key->role)) +
                ") does not allow " + need[static_cast<int>(*r.access)] + " access")));
      }
    }

    std::uint64_t gen = ++generation_;
    awaiting_ = true;
    ctx.respond = [self = shared_from_this(), gen](response resp) {
      net::post(self->stream_.get_executor(), [self, gen, resp = std::move(resp)]() mutable {
        self->complete(gen, std::move(resp));
      });
    };
    std::optional<response> immediate = r.fn(ctx);
    if (immediate)
      return complete(gen, std::move(*immediate));
    reply_timer_.expires_after(srv_->options.request_timeout);
    reply_timer_.async_wait([self = shared_from_this(), gen](beast::error_code ec) {
      if (ec)
        return;
      self->complete(
          gen, failure(domain::make_error(domain::errc::unavailable,
                                          "the request was not answered in time; it may or may not "
                                          "have taken effect")));
    });
  }

  // Runs on the session's strand; only the first answer for a request counts.
  void complete(std::uint64_t gen, response resp) {
    if (gen != generation_ || !awaiting_)
      return;
    awaiting_ = false;
    reply_timer_.cancel();
    finish(std::move(resp));
  }

  void finish(response resp) {
    auto& req = parser_->get();
    std::size_t index =
        match_.kind == router::match::found ? match_.entry->index : srv_->metrics.unmatched();
    srv_->metrics.record(
        index, resp.status,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(resp.status), req.version());
    res->set(bhttp::field::server, "referrald");
    if (!resp.content_type.empty())
      res->set(bhttp::field::content_type, resp.content_type);
    for (auto& [name, value] : resp.headers)
      res->set(name, value);
    bool keep = req.keep_alive() && !close_after_ && !resp.close && !srv_->draining;
    res->keep_alive(keep);
    res->body() = std::move(resp.body);
    res->prepare_payload();
    stream_.expires_after(srv_->options.read_timeout);
    bhttp::async_write(stream_, *res,
                       [self = shared_from_this(), res, keep](beast::error_code ec, std::size_t) {
                         self->on_write(keep, ec);
                       });
  }

  void on_write(bool keep, beast::error_code ec) {
    if (ec || !keep)
      return do_close();
    do_read();
  }

  void do_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);  // best effort; may be gone
    idle_ = false;
  }

  beast::tcp_stream stream_;
  std::shared_ptr<server::impl> srv_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  net::steady_timer reply_timer_;
  router::match match_;
  std::string_view path_;
  std::chrono::steady_clock::time_point started_;
  std::uint64_t generation_ = 0;
  bool awaiting_ = false;
  bool idle_ = false;
  bool close_after_ = false;
};

void server::impl::start_accepting() {
  acceptor.async_accept(net::make_strand(ioc),
                        beast::bind_front_handler(&impl::on_accept, shared_from_this()));
}

void server::impl::on_accept(beast::error_code ec, tcp::socket socket) {
  if (!acceptor.is_open())
    return;
  if (!ec) {
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    std::make_shared<session>(std::move(socket), shared_from_this())->start();
  }
  start_accepting();
}

void server::impl::session_started(session* s, const std::shared_ptr<session>& p) {
  std::lock_guard lock(sessions_mu);
  sessions.emplace(s, p);
}

void server::impl::session_ended(session* s) {
  std::lock_guard lock(sessions_mu);
  sessions.erase(s);
  if (draining && sessions.empty()) {
    net::post(ioc, [self = shared_from_this()] { self->drain_timer.cancel(); });
  }
}

void server::impl::begin_stop() {
  if (draining.exchange(true))
    return;
  net::post(acceptor.get_executor(), [self = shared_from_this()] {
    beast::error_code ec;
    self->acceptor.close(ec);
  });
  beast::error_code ec;
  signals.cancel(ec);
  std::vector<std::shared_ptr<session>> live;
  {
    std::lock_guard lock(sessions_mu);
    for (auto& [raw, weak] : sessions) {
      if (auto p = weak.lock())
        live.push_back(std::move(p));
    }
  }
  for (auto& s : live)
    s->close_if_idle();
  bool none_left = live.empty();
  live.clear();
  drain_timer.expires_after(options.drain_timeout);
  drain_timer.async_wait([self = shared_from_this()](beast::error_code wec) {
    if (!wec)
      self->ioc.stop();  // timed out: abandon what is still open
  });
  if (none_left)
    drain_timer.cancel();
}

server::server(server_options options, actors::runtime& runtime)
    : impl_(std::make_shared<impl>(std::move(options), runtime)) {
  auto& i = *impl_;
  beast::error_code ec;
  auto address = net::ip::make_address(i.options.host, ec);
  if (ec)
    throw std::runtime_error("invalid listen address '" + i.options.host + "'");
  tcp::endpoint ep(address, i.options.port);
  i.acceptor.open(ep.protocol(), ec);
  if (!ec)
    i.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec)
    i.acceptor.bind(ep, ec);
  if (!ec)
    i.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on " + i.options.host + ":" +
                             std::to_string(i.options.port) + ": " + ec.message());
  }
}

server::~server() {
  stop();
  impl_->ioc.stop();
}

std::string server::local_endpoint() const {
  auto ep = impl_->acceptor.local_endpoint();
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

void server::run() {
  auto& i = *impl_;
  if (i.options.handle_signals) {
    i.signals.add(SIGTERM);
    i.signals.add(SIGINT);
    i.signals.async_wait([self = impl_](beast::error_code ec, int) {
      if (!ec)
        self->begin_stop();
    });
  }
  i.start_accepting();
  std::size_t n = i.options.io_threads != 0
                      ? i.options.io_threads
                      : std::max<std::size_t>(1, std::thread::hardware_concurrency());
  std::vector<std::thread> threads;
  for (std::size_t t = 1; t < n; ++t)
    threads.emplace_back([&i] { i.ioc.run(); });
  i.ioc.run();
  for (auto& t : threads)
    t.join();
}

void server::stop() {
  net::post(impl_->ioc, [self = impl_] { self->begin_stop(); });
}

}  // namespace referrald::http
