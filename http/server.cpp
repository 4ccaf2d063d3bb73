#include "http/server.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <vector>

#include "domain/base/digest.hpp"
#include "domain/base/ids.hpp"
#include "domain/base/text.hpp"
#include "http/access_log.hpp"
#include "http/authentication.hpp"
#include "http/compute_pool.hpp"
#include "http/cors.hpp"
#include "http/entity_tag.hpp"
#include "http/error_table.hpp"
#include "http/exchange.hpp"
#include "http/forwarding.hpp"
#include "http/framing.hpp"
#include "http/handlers.hpp"
#include "http/http_metrics.hpp"
#include "http/idempotency.hpp"
#include "http/rate_limit.hpp"
#include "http/rate_limiter.hpp"
#include "http/request_head.hpp"
#include "http/request_id.hpp"
#include "infra/log.hpp"
#include "infra/metrics.hpp"

namespace referrald::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using clock = std::chrono::steady_clock;

namespace {

// Concrete executor types: no type erasure on the hot path.
using executor = net::io_context::executor_type;
using socket_t = net::basic_stream_socket<tcp, executor>;
using acceptor_t = net::basic_socket_acceptor<tcp, executor>;
using timer_t = net::basic_waitable_timer<clock, net::wait_traits<clock>, executor>;

constexpr auto k_sweep_period = std::chrono::milliseconds(250);
// Lingering close after an early refusal: at most this long and this many bytes.
constexpr auto k_linger_time = std::chrono::seconds(2);
constexpr std::size_t k_linger_bytes = 64u << 20;

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

}  // namespace

// One I/O thread: its io_context, the sessions living on it and their timeout sweep.
// `sessions` is only touched on this worker's thread.
struct worker {
  explicit worker() : guard(net::make_work_guard(ioc)), sweep(ioc.get_executor()) {}

  net::io_context ioc{1};
  std::optional<net::executor_work_guard<executor>> guard;
  timer_t sweep;
  std::unordered_map<session*, std::weak_ptr<session>> sessions;
  std::string access_lines;  // access log lines not yet written
};

struct server::impl : std::enable_shared_from_this<server::impl> {
  impl(server_options o, actors::runtime& rt)
      : options(std::move(o)),
        runtime(rt),
        routes(make_router(options.body_limits)),
        limiter(options.rate_limit_rps, options.rate_limit_burst),
        pages_limiter(options.publishable_rate_limit_rps, options.publishable_rate_limit_burst),
        browsers(options.cors_origins),
        metrics(routes),
        compute(options.compute_threads),
        workers(make_workers(options.io_threads)),
        acceptor(workers.front()->ioc.get_executor()),
        signals(workers.front()->ioc),
        drain_timer(workers.front()->ioc.get_executor()) {}

  static std::vector<std::unique_ptr<worker>> make_workers(std::size_t n) {
    if (n == 0) n = std::max<std::size_t>(1, std::thread::hardware_concurrency());
    std::vector<std::unique_ptr<worker>> out;
    for (std::size_t i = 0; i < n; ++i)
      out.push_back(std::make_unique<worker>());
    return out;
  }

  void start_accepting();
  void on_accept(worker& w, beast::error_code ec, socket_t socket);
  void arm_sweep(worker& w);
  void on_sweep(worker& w);
  void wait_for_signal();
  void begin_stop();
  void stop_all();

  server_options options;
  actors::runtime& runtime;
  router routes;
  rate_limiter limiter;
  rate_limiter pages_limiter;  // publishable keys', per key and client address
  cors browsers;
  interfaces::retry_store* retries = nullptr;  // null: Idempotency-Key is ignored
  access_log requests_log;
  http_metrics metrics;
  compute_pool compute;
  std::vector<std::unique_ptr<worker>> workers;
  std::size_t next_worker = 0;
  acceptor_t acceptor;
  net::signal_set signals;
  timer_t drain_timer;
  std::atomic<bool> draining{false};
  std::atomic<std::size_t> live_sessions{0};
  // Cluster mode with owners: who owns what, and the requests sent between owners.
  // Where writes go (interfaces/placement.hpp): the runtime's, or this server's own when
  // none was given (every write here).
  interfaces::local_placement own_placement;
  interfaces::placement* placement = &own_placement;
  std::thread leaving;  // leaves the owners on stop (may ask the cluster)
  std::atomic<std::size_t> next_forward_worker{0};
  void serve_forwarded(interfaces::placement::incoming in, interfaces::placement::answer_fn answer);
  void leave_owners();
};

// One connection: do_read → (header bytes) → on_header → (100-continue) → on_body →
// dispatch → complete → finish → on_write → do_read ... All on its worker's thread.
//
// The session does the I/O and the waiting; what is decided about a request is decided by
// the steps named in http/exchange.hpp, each in its own file, called in the order a request
// meets them: on_header (request id, routing, CORS preflight, authentication, rate limit,
// body limit), dispatch (query, owners), run_here (idempotency), proceed (handler), finish
// (request id, entity tag, rate-limit state, CORS, access log, framing).
//
// The header is read by the session itself (read_header_bytes) rather than by Beast, so
// that the raw bytes can be checked for what Beast would silently accept (obsolete line
// folding) and so that the read deadline starts with the first byte of a request, not
// with the end of its header. The read buffer never grows past the header limit, which
// also bounds what a chunk header line (with its extensions) or a trailer section may
// take: a request that needs more is refused with 431, never buffered.
class session;

// The body of the current request's streamed answer (http/request.hpp), made on any
// thread and written by its session. Its backlog is counted where it is made, so that the
// producer can pause without a round trip; the session holds it weakly (it is the
// producer's, and it keeps the session alive).
class session_stream final : public answer_stream {
 public:
  session_stream(std::shared_ptr<session> s, std::uint64_t gen)
      : session_(std::move(s)), gen_(gen) {}

  void send(std::string bytes, end how) override;
  bool backed_up() const override { return unsent_.load(std::memory_order_relaxed) > backlog; }
  void when_drained(std::function<void()> resume) override;

  // The session's thread: `n` bytes were written; true when no more than half the backlog
  // waits.
  bool written(std::size_t n) {
    return unsent_.fetch_sub(n, std::memory_order_relaxed) - n <= backlog / 2;
  }
  bool drained() const { return unsent_.load(std::memory_order_relaxed) <= backlog / 2; }

 private:
  std::shared_ptr<session> session_;
  std::uint64_t gen_;
  std::atomic<std::size_t> unsent_{0};
};

class session : public std::enable_shared_from_this<session> {
 public:
  session(socket_t&& socket, worker& w, std::shared_ptr<server::impl> srv)
      : socket_(std::move(socket)), worker_(w), srv_(std::move(srv)), buffer_(k_header_limit) {
    ++srv_->live_sessions;
    beast::error_code ec;
    auto peer = socket_.remote_endpoint(ec);
    if (!ec) remote_ = peer.address().to_string();
  }

  // A write another node forwarded to this one as its owner (interfaces/placement.hpp):
  // no connection; the answer goes to `answer`, as the bytes of an HTTP response.
  session(worker& w, std::shared_ptr<server::impl> srv, std::string remote,
          std::function<void(std::string)> answer)
      : socket_(w.ioc.get_executor()), worker_(w), srv_(std::move(srv)), buffer_(k_header_limit) {
    ++srv_->live_sessions;
    remote_ = std::move(remote);
    answer_ = std::move(answer);
    forwarded_in_ = true;
  }

  ~session() {
    if (answer_) {
      answer_("HTTP/1.1 503 \r\nContent-Type: application/json\r\n\r\n" +
              error_body(domain::make_error(domain::errc::unavailable,
                                            "the owner stopped before answering")));
    }
    counted_in_flight(false);
    if (--srv_->live_sessions == 0 && srv_->draining) {
      net::post(srv_->workers.front()->ioc, [srv = srv_] { srv->drain_timer.cancel(); });
    }
  }

  // Runs on the worker's thread.
  void start() {
    worker_.sessions.emplace(this, weak_from_this());
    do_read();
  }

  // Runs on the worker's thread: the forwarded request's bytes, read as a connection's
  // would be (the header checked the same way), its body whole.
  void start_forwarded(std::string request) {
    worker_.sessions.emplace(this, weak_from_this());
    rq_.emplace();
    rq_->parser.emplace();
    rq_->parser->header_limit(k_header_limit);
    rq_->parser->body_limit(boost::none);
    phase_ = phase::idle;
    request_begins();
    auto end = request.find("\r\n\r\n");
    if (end == std::string::npos) {
      return refuse_now(domain::make_error(domain::errc::bad_request,
                                           "the forwarded request has no end of header"));
    }
    std::string_view head(request.data(), end + 4);
    if (auto bad = read_request_head(*rq_->parser, head)) return refuse_now(std::move(*bad));
    forwarded_body_ = request.substr(end + 4);
    on_header();
  }

  // Called by the worker's sweep: enforces the deadlines.
  void sweep(clock::time_point now) {
    if (phase_ == phase::awaiting && owner_answer_ && now >= deadline_) {
      // The owner answered and this node has not applied the write yet: answered anyway
      // (Referrald-Min-Seq is there for a read that must see it).
      return finish(std::move(*std::exchange(owner_answer_, std::nullopt)));
    }
    if (phase_ == phase::awaiting) {
      if (now >= deadline_) {
        complete(generation_, failure(domain::make_error(
                                  domain::errc::unavailable,
                                  "the request was not answered in time; it may or may not "
                                  "have taken effect")));
      }
      return;
    }
    if (phase_ == phase::idle && srv_->draining) return close();
    if (phase_ != phase::closed && now >= deadline_) close();
  }

  // Closes the connection if it is between requests (the server is stopping).
  void close_if_idle() {
    if (phase_ == phase::idle) close();
  }

 private:
  enum class phase { idle, reading, awaiting, writing, lingering, closed };

  void do_read() {
    if (srv_->draining) return close();
    stream_.reset();
    rq_.emplace();
    rq_->parser.emplace();
    rq_->parser->header_limit(k_header_limit);
    // No limit while the header is read (Beast would otherwise judge Content-Length
    // against it before the route is known); the route's limit is set in on_header.
    rq_->parser->body_limit(boost::none);
    phase_ = phase::idle;
    deadline_ = clock::now() + srv_->options.idle_timeout;
    read_header_bytes();
  }

  // The first bytes of a request: from now on the read deadline applies, not the idle one.
  void request_begins() {
    if (phase_ != phase::idle) return;
    phase_ = phase::reading;
    counted_in_flight(true);
    rq_->started = clock::now();
    deadline_ = rq_->started + srv_->options.read_timeout;
  }

  // Reads until the buffer holds a whole header (up to the blank line), then parses it.
  void read_header_bytes() {
    // Empty lines before a request line are ignored (RFC 9112 section 2.2).
    while (buffer_.size() >= 2 && rq_->scanned == 0) {
      auto* p = static_cast<const char*>(buffer_.data().data());
      if (p[0] != '\r' || p[1] != '\n') break;
      buffer_.consume(2);
    }
    std::string_view bytes(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    if (!bytes.empty()) request_begins();
    auto end = bytes.find("\r\n\r\n", rq_->scanned);
    std::string_view head = bytes.substr(0, end == std::string_view::npos ? bytes.size() : end + 4);
    if (find_bare_lf(head, rq_->scanned) != std::string_view::npos)
      return refuse_now(bare_lf_error());
    if (end != std::string_view::npos) return on_header_bytes(end + 4);
    if (buffer_.size() >= k_header_limit) {
      return refuse_now(domain::make_error(domain::errc::header_too_large,
                                           "the request header is larger than 16 KiB"));
    }
    rq_->scanned = bytes.size() < 3 ? 0 : bytes.size() - 3;
    std::size_t room = buffer_.max_size() - buffer_.size();
    socket_.async_read_some(buffer_.prepare(room),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->buffer_.commit(n);
                              if (ec) return self->on_read_error(ec);
                              self->read_header_bytes();
                            });
  }

  // Answers a request that could not be read and closes the connection.
  void refuse_now(domain::error e) {
    request_begins();
    rq_->close_after = true;
    rq_->match = {};
    finish(failure(e));
  }

  void on_header_bytes(std::size_t header_size) {
    std::string_view head(static_cast<const char*>(buffer_.data().data()), header_size);
    if (auto bad = read_request_head(*rq_->parser, head)) return refuse_now(std::move(*bad));
    buffer_.consume(header_size);
    on_header();
  }

  // The header is in: route, authenticate and check the body's size before reading it,
  // so that a request that will be refused does not upload its body first.
  void on_header() {
    auto& req = rq_->parser->get();
    rq_->target = origin_form(sv(req.target()));
    std::string_view target = rq_->target;
    rq_->path = target.substr(0, target.find('?'));
    rq_->match = srv_->routes.find(to_method(req.method()), rq_->path);
    auto length = rq_->parser->content_length();
    bool has_body = (length && *length > 0) || rq_->parser->chunked();
    // A refusal sent before the body was read ends the connection: the unread body
    // would otherwise be taken for the next request.
    auto refuse = [&](response r) {
      if (has_body) rq_->close_after = true;
      finish(std::move(r));
    };

    if (auto id = rq_->field("X-Request-Id"); sane_request_id(id)) rq_->request_id = id;

    if (!rq_->routed()) {
      if (req.method() == bhttp::verb::options &&
          rq_->match.kind == router::match::method_not_allowed) {
        std::string_view origin = rq_->field(bhttp::field::origin);
        bool preflight =
            !origin.empty() && req.find(bhttp::field::access_control_request_method) != req.end();
        // A page's preflight carries no key: answered for the origins publishable keys list
        // (keys not expired), and for any origin on a route any page may read.
        const route* path = rq_->match.same_path;
        bool page_origin =
            preflight && path != nullptr && !origin.empty() &&
            (path->any_page ||
             (path->publishable && srv_->runtime.keys()->lists_origin(origin, domain::now_ms())));
        return refuse(srv_->browsers.options(rq_->match.allow, origin, preflight, page_origin));
      }
      return refuse(route_error(rq_->match, to_method(req.method()), rq_->path));
    }
    auto denied = authenticate(*rq_, srv_->runtime);
    // A forwarded write was counted against the caller's budget by the node it came to.
    if (!forwarded_in_) {
      bool unauthenticated = denied.has_value() && denied->status == 401;
      if (auto limited =
              take_token(*rq_, srv_->limiter, srv_->pages_limiter, unauthenticated, remote_)) {
        return refuse(std::move(*limited));
      }
    }
    if (denied) return refuse(std::move(*denied));
    std::size_t limit = rq_->match.entry->body_limit;
    if (length && *length > limit) return refuse(too_large(limit));
    rq_->parser->body_limit(limit);
    if (forwarded_in_) {
      req.body() = std::move(forwarded_body_);
      return dispatch();
    }
    if (has_body && iequals(sv(req[bhttp::field::expect]), "100-continue")) {
      auto cont = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_,
                                                                       req.version());
      bhttp::async_write(socket_, *cont,
                         [self = shared_from_this(), cont](beast::error_code wec, std::size_t) {
                           if (wec) return self->close();
                           self->read_body();
                         });
      return;
    }
    if (!has_body && rq_->parser->is_done()) return dispatch();
    read_body();
  }

  void read_body() {
    bhttp::async_read(socket_, buffer_, *rq_->parser,
                      beast::bind_front_handler(&session::on_body, shared_from_this()));
  }

  void on_body(beast::error_code ec, std::size_t) {
    if (ec) return on_read_error(ec);
    dispatch();
  }

  void on_read_error(beast::error_code ec) {
    switch (classify_read_error(ec)) {
      case read_failure::too_large:
        if (!rq_->routed()) break;
        rq_->close_after = true;
        return finish(too_large(rq_->match.entry->body_limit));
      case read_failure::header_too_large:
        return refuse_now(domain::make_error(
            domain::errc::header_too_large,
            "a chunk header (with its extensions) or the trailer section is larger than 16 KiB"));
      case read_failure::gone:
        return close();
      case read_failure::malformed:
        break;
    }
    if (phase_ == phase::closed) return close();
    // A request Beast cannot parse: answer 400 and close.
    refuse_now(framing_error(ec));
  }

  void dispatch() {
    auto& req = rq_->parser->get();
    const route& r = *rq_->match.entry;

    request_ctx ctx;
    ctx.verb = r.verb;
    ctx.path = rq_->path;
    ctx.params = std::move(rq_->match.params);
    ctx.body = req.body();
    ctx.body_storage = &req.body();
    infra::metrics().http_request_bytes.observe(req.body().size());
    ctx.content_type = sv(req[bhttp::field::content_type]);
    ctx.runtime = &srv_->runtime;
    ctx.metrics = &srv_->metrics;
    ctx.compute = &srv_->compute;
    ctx.deadline = clock::now() + srv_->options.request_timeout;

    if (!rq_->match.error.empty()) {
      return finish(failure(domain::make_error(domain::errc::route_not_found, rq_->match.error)));
    }
    std::string_view target = rq_->target;
    auto q = target.find('?');
    if (r.pattern.starts_with("/{brand_id}/") && !ctx.params.empty()) rq_->brand = ctx.params[0];
    auto query = query_params::parse(
        q == std::string_view::npos || r.static_file ? "" : target.substr(q + 1));
    if (!query) return finish(failure(query.err()));
    ctx.query = std::move(*query);
    if (const auto* account = ctx.query.get("account_id")) rq_->account = *account;
    if (auto unknown = unknown_query(r, ctx.query)) return finish(std::move(*unknown));
    if (auto owner = owner_elsewhere(r, ctx)) return forward(*owner, r, std::move(ctx));
    run_here(r, std::move(ctx));
  }

  // The request's Idempotency-Key claimed (if any), then its handler, on this node.
  void run_here(const route& r, request_ctx ctx) {
    idempotency_claim claim;
    if (srv_->retries != nullptr) claim = claim_of(*rq_);
    if (claim.refused) return finish(std::move(*claim.refused));
    if (claim.scope.empty()) return proceed(r, std::move(ctx));
    // The claim may ask the cluster (on a thread of its own): the request waits for it as
    // for a handler, under the request timeout.
    std::uint64_t gen = ++generation_;
    phase_ = phase::awaiting;
    deadline_ = clock::now() + srv_->options.request_timeout;
    auto waiting = std::make_shared<request_ctx>(std::move(ctx));
    srv_->retries->begin(
        claim.scope, claim.fingerprint,
        [self = shared_from_this(), gen, &r, waiting, claim](interfaces::retry_store::begun b) {
          net::dispatch(self->worker_.ioc,
                        [self, gen, &r, waiting, claim, b = std::move(b)]() mutable {
                          self->on_claimed(gen, r, std::move(*waiting), claim, std::move(b));
                        });
        });
  }

  // The node that owns the account or brand this write changes, when it is another one.
  std::optional<std::string> owner_elsewhere(const route& r, const request_ctx& ctx) const {
    if (forwarded_in_ || r.owner == owner_scope::none) return std::nullopt;
    std::string scope;
    if (r.owner == owner_scope::account) {
      const std::string* id = ctx.query.get("account_id");
      if (id == nullptr || !domain::is_valid_account_id(*id)) return std::nullopt;
      scope = "account/" + *id;
    } else {
      if (ctx.params.empty()) return std::nullopt;
      scope = "brand/" + ctx.params[0];
    }
    return srv_->placement->owner_elsewhere(scope);
  }

  // Sends the write to its owner: its answer is this request's, once this node has applied
  // the write; when no owner takes it, the write is made here.
  void forward(const std::string& owner, const route& r, request_ctx ctx) {
    std::uint64_t gen = ++generation_;
    phase_ = phase::awaiting;
    auto take = srv_->options.forward_take_timeout;
    // The owner says "working" every second while it runs the write: 3 s of silence means
    // it is gone or cut off. The owner answers within its own request timeout.
    auto answer = std::chrono::milliseconds(3000);
    deadline_ = clock::now() + take + srv_->options.request_timeout + std::chrono::seconds(3);
    auto waiting = std::make_shared<request_ctx>(std::move(ctx));
    srv_->placement->relay(
        owner, encode_forwarded_request(*rq_, request_id()), remote_, take, answer,
        [self = shared_from_this(), gen, &r, waiting](interfaces::placement::relayed res) {
          net::dispatch(self->worker_.ioc,
                        [self, gen, &r, waiting, res = std::move(res)]() mutable {
                          self->on_forwarded(gen, r, std::move(*waiting), std::move(res));
                        });
        });
  }

  void on_forwarded(std::uint64_t gen, const route& r, request_ctx ctx,
                    interfaces::placement::relayed res) {
    if (gen != generation_ || phase_ != phase::awaiting) return;  // answered 503 meanwhile
    using outcome = interfaces::placement::outcome;
    if (res.how == outcome::not_taken) {
      infra::metrics().cluster_forward_fallbacks.fetch_add(1, std::memory_order_relaxed);
      return run_here(r, std::move(ctx));
    }
    if (res.how == outcome::timed_out) {
      infra::metrics().cluster_forward_timeouts.fetch_add(1, std::memory_order_relaxed);
      response busy = failure(domain::make_error(
          domain::errc::unavailable,
          "the node that owns this write took it and went silent; it may or may not have taken "
          "effect"));
      busy.headers.emplace_back("Retry-After", "1");
      return finish(std::move(busy));
    }
    infra::metrics().cluster_forwarded.fetch_add(1, std::memory_order_relaxed);
    auto answered = decode_forwarded_answer(res.response);
    if (!answered) {
      return finish(failure(
          domain::make_error(domain::errc::internal, "the owner's answer could not be read")));
    }
    // Answered once this node has applied the write too, as when it writes itself: a read
    // sent here next finds it (within 2 s; after that the answer goes out regardless).
    deadline_ = clock::now() + std::chrono::seconds(2);
    std::uint64_t seq = 0;
    for (const auto& [name, value] : answered->headers) {
      if (iequals(name, "Referrald-Seq"))
        std::from_chars(value.data(), value.data() + value.size(), seq);
    }
    const std::string* account = ctx.query.get("account_id");
    if (r.owner == owner_scope::account && seq != 0 && account != nullptr) {
      if (auto view = srv_->runtime.view(*account); view && view->seq() >= seq) {
        return finish(std::move(*answered));
      }
      owner_answer_ = std::move(*answered);
      srv_->runtime.tell(
          *account, actors::await_loaded_req{
                        actors::make_reply([self = shared_from_this(), gen](actors::api_result) {
                          net::dispatch(self->worker_.ioc,
                                        [self, gen] { self->answer_owner(gen); });
                        }),
                        seq});
      return;
    }
    if (res.applied <= srv_->runtime.cluster_applied()) return finish(std::move(*answered));
    owner_answer_ = std::move(*answered);
    srv_->runtime.when_applied(res.applied, [self = shared_from_this(), gen](bool) {
      net::dispatch(self->worker_.ioc, [self, gen] { self->answer_owner(gen); });
    });
  }

  void answer_owner(std::uint64_t gen) {
    if (gen != generation_ || phase_ != phase::awaiting || !owner_answer_) return;
    finish(std::move(*std::exchange(owner_answer_, std::nullopt)));
  }

  // The rest of a request once its Idempotency-Key (if any) is claimed: the handler runs,
  // with its answer kept for retries.
  void proceed(const route& r, request_ctx ctx) {
    auto& req = rq_->parser->get();
    ctx.if_match = sv(req[bhttp::field::if_match]);
    ctx.request_id = request_id();
    if (rq_->rate && rq_->key_use != nullptr) {
      ctx.limiter = &srv_->limiter;
      // Shares the key table's ownership: the bucket outlives the session if need be.
      ctx.rate_bucket =
          std::shared_ptr<std::atomic<std::int64_t>>(rq_->keys, &rq_->key_use->bucket);
    }

    ctx.key = rq_->key;
    ctx.keys = rq_->keys;

    std::uint64_t gen = ++generation_;
    phase_ = phase::awaiting;
    deadline_ = clock::now() + srv_->options.request_timeout;
    ctx.respond = [self = shared_from_this(), gen](response resp) {
      net::dispatch(self->worker_.ioc, [self, gen, resp = std::move(resp)]() mutable {
        self->complete(gen, std::move(resp));
      });
    };
    ctx.on_session = [self = shared_from_this()](std::function<void()> work) {
      net::post(self->worker_.ioc, std::move(work));
    };
    if (r.streams) {
      auto stream = std::make_shared<session_stream>(shared_from_this(), gen);
      stream_sink_ = stream;
      ctx.stream = std::move(stream);
    }
    if (!rq_->idempotency_scope.empty()) {
      // The handler's answer — whenever it comes, even after this session gave up waiting
      // or the client left — is stored durably before it is sent: a retry replays it.
      ctx.respond = [srv = srv_, scope = std::move(rq_->idempotency_scope),
                     send = std::move(ctx.respond)](response answered) {
        if (!kept(answered)) {
          srv->retries->abandon(scope);
          return send(std::move(answered));
        }
        auto answer = std::make_shared<response>(std::move(answered));
        srv->retries->complete(scope, sent_copy(*answer), durable_copy(*answer),
                               [send, answer] { send(std::move(*answer)); });
      };
      rq_->idempotency_scope.clear();
    }
    auto min_seq = min_seq_of(req, ctx);
    if (!min_seq) return ctx.respond(failure(min_seq.err()));
    if (!*min_seq) return run(r, ctx);
    // Read-your-writes across nodes: the handler runs once the account's published state
    // has reached the sequence number the client saw (request_ctx stays valid meanwhile:
    // it points into this request, which lives while the answer is awaited).
    const auto& [account, seq] = **min_seq;
    if (auto view = ctx.runtime->view(account); view && view->seq() >= seq) return run(r, ctx);
    auto waiting = std::make_shared<request_ctx>(std::move(ctx));
    waiting->runtime->tell(
        account, actors::await_loaded_req{
                     actors::make_reply([self = shared_from_this(), gen, &r,
                                         waiting](actors::api_result reached) {
                       waiting->on_session([self, gen, &r, waiting, reached = std::move(reached)] {
                         // Gave up meanwhile: still answered, so that a claimed
                         // Idempotency-Key is released (the session ignores the answer).
                         if (gen != self->generation_ || self->phase_ != phase::awaiting) {
                           return waiting->respond(failure(domain::make_error(
                               domain::errc::unavailable, "the request was not answered in time")));
                         }
                         if (!reached) return waiting->respond(failure(reached.err()));
                         self->run(r, *waiting);
                       });
                     }),
                     seq});
  }

  // The claim's verdict, on the session's thread: the request goes on, or is answered (the
  // stored answer again, or 409). A request given up meanwhile releases what it claimed.
  void on_claimed(std::uint64_t gen, const route& r, request_ctx ctx,
                  const idempotency_claim& claim, interfaces::retry_store::begun b) {
    using verdict = interfaces::retry_store::verdict;
    if (gen != generation_ || phase_ != phase::awaiting) {
      if (b.what == verdict::run) srv_->retries->abandon(claim.scope);
      return;
    }
    if (b.what != verdict::run) return finish(claim_answer(b, claim));
    rq_->idempotency_scope = claim.scope;
    proceed(r, std::move(ctx));
  }

  // The `Referrald-Min-Seq` of a request naming an account it may read: the account and
  // the sequence number; nullopt when the request has none (or names no account: then
  // the header has nothing to wait for, and the handler says what is wrong).
  using min_seq_wait = std::optional<std::pair<std::string, std::uint64_t>>;
  static domain::result<min_seq_wait> min_seq_of(const bhttp::request<bhttp::string_body>& req,
                                                 const request_ctx& ctx) {
    auto it = req.find("Referrald-Min-Seq");
    if (it == req.end() || ctx.key == nullptr) return min_seq_wait();
    std::string_view text = sv(it->value());
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || n == 0) {
      return domain::make_error(domain::errc::validation_failed,
                                "Referrald-Min-Seq must be a positive integer",
                                {{"Referrald-Min-Seq", "must be a positive integer"}});
    }
    auto account = account_param(ctx);
    if (!account) return min_seq_wait();
    return min_seq_wait(std::in_place, std::move(*account), n);
  }

  void run(const route& r, request_ctx& ctx) {
    std::optional<response> immediate;
    try {
      immediate = r.fn(ctx);
    } catch (const std::exception& e) {
      immediate = internal_failure(e.what());
    } catch (...) {
      immediate = internal_failure("unknown exception");
    }
    if (immediate) ctx.respond(std::move(*immediate));
  }

  response internal_failure(const char* what) {
    infra::log(infra::log_level::error,
               "a handler for " + std::string(rq_->path) + " failed with an exception: " + what);
    return failure(domain::make_error(domain::errc::internal,
                                      "the server failed to handle this request; it was logged"));
  }

  // Only the first answer for the current request counts.
  void complete(std::uint64_t gen, response resp) {
    if (gen != generation_ || phase_ != phase::awaiting) return;
    finish(std::move(resp));
  }

  const std::string& request_id() {
    if (rq_->request_id.empty()) rq_->request_id = new_request_id();
    return rq_->request_id;
  }

  // What every answer carries: its request id (in the error body too), its ETag (or 304
  // for a GET whose If-None-Match names it), the caller's rate-limit state, and CORS
  // headers for an allowed origin.
  void decorate(response& resp) {
    if (resp.forwarded) return add_rate_headers(resp, *rq_);
    resp.headers.reserve(resp.headers.size() + 8);  // request id, tag, limits, CORS: one allocation
    auto verb = to_method(rq_->head().method());
    stamp_request_id(resp, request_id());
    if (rq_->routed() && rq_->match.entry->etag) {
      tag_answer(resp, verb, rq_->field(bhttp::field::if_none_match));
    }
    add_rate_headers(resp, *rq_);
    bool public_route = rq_->routed() && rq_->match.entry->any_page;
    std::string_view origin = rq_->field(bhttp::field::origin);
    // A publishable key's answer, to a page of its origins (a refused origin reads nothing).
    bool page_origin = rq_->key != nullptr && rq_->key->role == domain::role::publishable &&
                       rq_->key->allows_origin(origin);
    srv_->browsers.decorate(resp, origin, public_route, page_origin);
  }

  void finish(response resp) {
    auto& req = rq_->parser->get();
    decorate(resp);
    if (resp.streamed && !answer_) return begin_stream(std::move(resp));
    counted_in_flight(false);
    account_for(resp, resp.body.size());
    if (answer_) {
      // A forwarded write: the answer goes back to the node it came from.
      infra::metrics().cluster_forwards_served.fetch_add(1, std::memory_order_relaxed);
      std::exchange(answer_, nullptr)(encode_forwarded_answer(resp));
      phase_ = phase::closed;
      return;
    }
    bool keep = req.keep_alive() && !rq_->close_after && !resp.close && !srv_->draining;
    head_.clear();
    auto framed = write_head(head_, resp, req, keep);
    body_ = framed.body ? std::move(resp.body) : std::string();
    phase_ = phase::writing;
    deadline_ = clock::now() + srv_->options.read_timeout;
    std::array<net::const_buffer, 2> out{net::buffer(head_), net::buffer(body_)};
    net::async_write(socket_, out,
                     [self = shared_from_this(), keep = framed.keep](
                         beast::error_code ec, std::size_t) { self->on_write(keep, ec); });
  }

  // The access log line and the metrics of an answer of `bytes` bytes.
  void account_for(const response& resp, std::size_t bytes) {
    auto took = clock::now() - rq_->started;
    log_answer(srv_->requests_log, worker_.access_lines, *rq_, resp, bytes, took, remote_);
    double seconds = std::chrono::duration<double>(took).count();
    infra::metrics().http_response_bytes.observe(bytes);
    if (rq_->routed()) {
      srv_->metrics.record(rq_->match.entry->index, resp.status, seconds);
    } else if (rq_->match.kind == router::match::method_not_allowed &&
               rq_->match.same_path != nullptr) {
      srv_->metrics.record_other_method(rq_->match.same_path->index,
                                        to_method(rq_->head().method()), resp.status, seconds);
    } else {
      srv_->metrics.record(srv_->metrics.unmatched(), resp.status, seconds);
    }
  }

  // A streamed answer (response::streamed): its head now, its bytes as `more` brings them.
  void begin_stream(response resp) {
    auto& req = rq_->parser->get();
    bool keep = req.keep_alive() && !rq_->close_after && !resp.close && !srv_->draining;
    head_.clear();
    auto framed = write_head(head_, resp, req, keep);
    stream_.emplace();
    stream_->chunked = framed.chunked;
    stream_->keep = framed.keep;
    stream_->head = std::move(resp);
    phase_ = phase::writing;
    deadline_ = clock::now() + srv_->options.read_timeout;
    net::async_write(socket_, net::buffer(head_),
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (ec) return self->close();
                       self->stream_->head_sent = true;
                       self->pump();
                     });
  }

 public:
  // session_stream's calls, on this session's executor.
  void more(std::uint64_t gen, std::string bytes, answer_stream::end end) {
    if (gen != generation_ || !stream_ || phase_ != phase::writing) return;
    stream_->pending += bytes;
    if (end != answer_stream::end::more) stream_->end = end;
    pump();
  }

  // The producer paused: `resume` runs once no more than half the backlog waits; it is
  // dropped with the stream if the client never reads.
  void when_drained(std::uint64_t gen, std::function<void()> resume) {
    if (gen != generation_ || !stream_ || phase_ != phase::writing) return;
    stream_->resume = std::move(resume);
    auto sink = stream_sink_.lock();
    if (sink == nullptr || sink->drained()) resume_now();
  }

  net::io_context& io() { return worker_.ioc; }

 private:
  void resume_now() {
    std::function<void()> resume = std::move(stream_->resume);
    stream_->resume = nullptr;
    if (resume) resume();
  }

  // Writes what the stream has, one write at a time; ends it when its producer has.
  void pump() {
    auto& st = *stream_;
    if (!st.head_sent || st.writing) return;
    if (!st.pending.empty()) {
      auto data = std::make_shared<std::string>(std::move(st.pending));
      st.pending.clear();
      st.bytes += data->size();
      st.writing = true;
      deadline_ = clock::now() + srv_->options.read_timeout;
      auto written = [self = shared_from_this(), data](beast::error_code ec, std::size_t) {
        self->stream_->writing = false;
        auto sink = self->stream_sink_.lock();
        bool drained = sink == nullptr || sink->written(data->size());
        if (ec) return self->close();
        if (drained && self->stream_->resume) self->resume_now();
        // Waiting for the producer, which stops by the request's deadline.
        self->deadline_ = clock::now() + self->srv_->options.request_timeout;
        self->pump();
      };
      if (st.chunked) {
        net::async_write(socket_, bhttp::make_chunk(net::buffer(*data)), std::move(written));
      } else {
        net::async_write(socket_, net::buffer(*data), std::move(written));
      }
      return;
    }
    if (st.end == answer_stream::end::more) return;
    counted_in_flight(false);
    account_for(st.head, st.bytes);
    if (st.end == answer_stream::end::failed) {
      // Cut short: without the last chunk (or, to HTTP/1.0, with the connection closed
      // early) the client cannot take what it got for the whole answer.
      infra::log(infra::log_level::warn, "request " + rq_->request_id +
                                             ": the streamed answer was cut short after " +
                                             std::to_string(st.bytes) + " bytes");
      return close();
    }
    if (!st.chunked) return on_write(false, {});
    net::async_write(socket_, bhttp::make_chunk_last(),
                     [self = shared_from_this(), keep = st.keep](
                         beast::error_code ec, std::size_t) { self->on_write(keep, ec); });
  }

  void on_write(bool keep, beast::error_code ec) {
    body_ = std::string();  // a large answer is not held while the connection waits
    if (ec) return close();
    if (!keep) return rq_->close_after ? linger() : close();
    do_read();
  }

  // After refusing a request whose body was not read (413, 401 before the body...), stop
  // sending but keep reading and discarding for a short while: closing at once would
  // make the kernel reset the connection while the client still uploads, and the client
  // would lose the answer. Bounded by time (the sweep) and by bytes.
  void linger() {
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close();
    phase_ = phase::lingering;
    deadline_ = clock::now() + k_linger_time;
    lingered_ = 0;
    drain();
  }

  void drain() {
    socket_.async_read_some(net::buffer(drain_buffer_), [self = shared_from_this()](
                                                            beast::error_code ec, std::size_t n) {
      self->lingered_ += n;
      if (ec || self->lingered_ > k_linger_bytes || self->phase_ != phase::lingering) {
        return self->close();
      }
      self->drain();
    });
  }

  // referrald_http_requests_in_flight: from a request's first byte to its answer (or to
  // the connection's end).
  void counted_in_flight(bool now) {
    if (now == in_flight_) return;
    in_flight_ = now;
    infra::metrics().http_requests_in_flight.fetch_add(now ? 1 : -1, std::memory_order_relaxed);
  }

  void close() {
    counted_in_flight(false);
    if (phase_ == phase::closed) return;
    phase_ = phase::closed;
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);  // best effort: may already be gone
    socket_.close(ec);
  }

  socket_t socket_;
  worker& worker_;
  std::shared_ptr<server::impl> srv_;
  beast::flat_buffer buffer_;
  clock::time_point deadline_;
  std::uint64_t generation_ = 0;
  phase phase_ = phase::idle;
  std::string remote_;      // the client's address
  bool in_flight_ = false;  // counted in referrald_http_requests_in_flight
  std::array<char, 16 * 1024> drain_buffer_;
  std::size_t lingered_ = 0;
  std::optional<exchange> rq_;  // the request being read or answered
  // A streamed answer being written (response::streamed).
  struct stream_state {
    response head;  // its status and header, for the access log
    bool chunked = true, keep = false;
    bool head_sent = false, writing = false;
    answer_stream::end end = answer_stream::end::more;
    std::string pending;           // made, not yet written
    std::size_t bytes = 0;         // written
    std::function<void()> resume;  // a paused producer's, run once the backlog drains
  };
  std::optional<stream_state> stream_;
  // The current request's answer stream, when its route streams (its producer holds it).
  std::weak_ptr<session_stream> stream_sink_;
  // The answer being written: its head, and its body when one is sent.
  std::string head_, body_;
  // A write forwarded here by another node: its body, and where its answer goes.
  bool forwarded_in_ = false;
  std::string forwarded_body_;
  std::function<void(std::string)> answer_;
  // A write this node forwarded: the owner's answer, while this node applies the write.
  std::optional<response> owner_answer_;
};

void session_stream::send(std::string bytes, end how) {
  unsent_.fetch_add(bytes.size(), std::memory_order_relaxed);
  net::dispatch(session_->io(), [s = session_, gen = gen_, bytes = std::move(bytes),
                                 how]() mutable { s->more(gen, std::move(bytes), how); });
}

void session_stream::when_drained(std::function<void()> resume) {
  net::dispatch(session_->io(), [s = session_, gen = gen_, resume = std::move(resume)]() mutable {
    s->when_drained(gen, std::move(resume));
  });
}

// Runs a worker's event loop until it is stopped. An exception that escapes a handler
// (none should: this is the last line of defence) is logged and counted, and the loop goes
// on: the connection whose handler threw is dropped, every other one is served.
void run_worker(worker& w) {
  for (;;) {
    try {
      w.ioc.run();
      return;
    } catch (const std::exception& e) {
      infra::metrics().io_handler_exceptions.fetch_add(1, std::memory_order_relaxed);
      infra::log(infra::log_level::error,
                 std::string("an I/O handler failed with an exception: ") + e.what());
    } catch (...) {
      infra::metrics().io_handler_exceptions.fetch_add(1, std::memory_order_relaxed);
      infra::log(infra::log_level::error, "an I/O handler failed with an unknown exception");
    }
  }
}

void server::impl::start_accepting() {
  worker& w = *workers[next_worker];
  next_worker = (next_worker + 1) % workers.size();
  acceptor.async_accept(w.ioc.get_executor(),
                        [self = shared_from_this(), &w](beast::error_code ec, socket_t socket) {
                          self->on_accept(w, ec, std::move(socket));
                        });
}

void server::impl::on_accept(worker& w, beast::error_code ec, socket_t socket) {
  if (!acceptor.is_open()) return;
  if (!ec) {
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto s = std::make_shared<session>(std::move(socket), w, shared_from_this());
    net::post(w.ioc, [s] { s->start(); });
  }
  start_accepting();
}

void server::impl::arm_sweep(worker& w) {
  w.sweep.expires_after(k_sweep_period);
  w.sweep.async_wait([self = shared_from_this(), &w](beast::error_code ec) {
    if (!ec) self->on_sweep(w);
  });
}

void server::impl::on_sweep(worker& w) {
  auto now = clock::now();
  std::vector<std::shared_ptr<session>> live;
  for (auto it = w.sessions.begin(); it != w.sessions.end();) {
    if (auto s = it->second.lock()) {
      live.push_back(std::move(s));
      ++it;
    } else {
      it = w.sessions.erase(it);
    }
  }
  for (auto& s : live)
    s->sweep(now);
  requests_log.flush(w.access_lines);
  if (draining && live.empty()) return;  // nothing left to watch: let the thread finish
  arm_sweep(w);
}

void server::impl::wait_for_signal() {
  signals.async_wait([self = shared_from_this()](beast::error_code ec, int signo) {
    if (ec) return;
    if (signo == SIGHUP) {
      if (self->options.on_hangup) self->options.on_hangup();
      self->requests_log.reopen();
      infra::log(infra::log_level::info, "SIGHUP: log file reopened; the server goes on");
      return self->wait_for_signal();
    }
    self->begin_stop();
  });
}

void server::impl::serve_forwarded(interfaces::placement::incoming in,
                                   interfaces::placement::answer_fn answer) {
  worker& w = *workers[next_forward_worker++ % workers.size()];
  net::post(w.ioc, [self = shared_from_this(), &w, in = std::move(in),
                    answer = std::move(answer)]() mutable {
    // The placement adds what this node had applied when it answered: the node that sent
    // the write waits until it has applied as much before it answers its client.
    auto s = std::make_shared<session>(w, self, std::move(in.remote), std::move(answer));
    s->start_forwarded(std::move(in.request));
  });
}

void server::impl::begin_stop() {
  if (draining.exchange(true)) return;
  // Out of the owners first: the others own this node's accounts from now on, and what they
  // send here finds no one and is written by themselves. What was taken is answered.
  leaving = std::thread([self = shared_from_this()] { self->placement->leave(); });
  beast::error_code ec;
  acceptor.close(ec);
  signals.cancel(ec);
  for (auto& w : workers) {
    net::post(w->ioc, [wp = w.get()] {
      for (auto& [raw, weak] : wp->sessions) {
        if (auto s = weak.lock()) s->close_if_idle();
      }
      wp->guard.reset();
    });
  }
  if (live_sessions == 0) return;
  drain_timer.expires_after(options.drain_timeout);
  drain_timer.async_wait([self = shared_from_this()](beast::error_code wec) {
    if (!wec) self->stop_all();  // timed out: abandon what is still open
  });
}

void server::impl::stop_all() {
  for (auto& w : workers)
    w->ioc.stop();
}

server::server(server_options options, actors::runtime& runtime)
    : impl_(std::make_shared<impl>(std::move(options), runtime)) {
  auto& i = *impl_;
  beast::error_code ec;
  auto address = net::ip::make_address(i.options.host, ec);
  if (ec) throw std::runtime_error("invalid listen address '" + i.options.host + "'");
  tcp::endpoint ep(address, i.options.port);
  i.acceptor.open(ep.protocol(), ec);
  if (!ec) i.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) i.acceptor.bind(ep, ec);
  if (!ec) i.acceptor.listen(net::socket_base::max_listen_connections, ec);
  i.retries = i.options.retries;
  if (!i.requests_log.open(i.options.access_log)) {
    throw std::runtime_error("cannot open the access log '" + i.options.access_log +
                             "' for appending");
  }
  if (ec) {
    throw std::runtime_error("cannot listen on " + i.options.host + ":" +
                             std::to_string(i.options.port) + ": " + ec.message());
  }
  if (i.options.placement != nullptr) i.placement = i.options.placement;
  auto served = i.placement->serve(
      [weak = std::weak_ptr<impl>(impl_)](interfaces::placement::incoming in,
                                          interfaces::placement::answer_fn answer) {
        if (auto self = weak.lock()) return self->serve_forwarded(std::move(in), std::move(answer));
      });
  if (!served) throw std::runtime_error(served.err().message);
}

// Out of the owners, and every relay still waiting answered, while the sessions its
// callbacks reach still exist. Idempotent.
void server::impl::leave_owners() {
  if (leaving.joinable()) leaving.join();
  placement->leave();
  placement->close();
}

server::~server() {
  impl_->draining = true;
  impl_->leave_owners();
  impl_->stop_all();
  impl_->compute.stop();
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
    i.signals.add(SIGHUP);
    i.wait_for_signal();
  }
  for (auto& w : i.workers)
    i.arm_sweep(*w);
  i.start_accepting();
  std::vector<std::thread> threads;
  for (std::size_t t = 1; t < i.workers.size(); ++t) {
    threads.emplace_back([w = i.workers[t].get()] { run_worker(*w); });
  }
  run_worker(*i.workers.front());
  for (auto& t : threads)
    t.join();
  for (auto& w : i.workers)
    i.requests_log.flush(w->access_lines);
  i.leave_owners();
}

void server::stop() {
  net::post(impl_->workers.front()->ioc, [self = impl_] { self->begin_stop(); });
}

}  // namespace referrald::http
