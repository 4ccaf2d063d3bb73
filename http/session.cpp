// A connection's session: the bytes of requests read and the bytes of answers written, on
// its worker's thread; what is decided about a request is the chain's (http/chain.hpp).
//
//   do_read → read_header_bytes → chain (… body step: take_body → read_body → chain …)
//   → send → on_write → do_read …
//
// The header is read by the session itself rather than by Beast, so that the raw bytes can
// be checked for what Beast would silently accept (obsolete line folding) and so that the
// read deadline starts with the first byte of a request, not with the end of its header.
// The read buffer never grows past the header limit, which also bounds what a chunk header
// line (with its extensions) or a trailer section may take: a request that needs more is
// refused with 431, never buffered.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <array>

#include "http/framing.hpp"
#include "http/request_head.hpp"
#include "http/server_parts.hpp"
#include "infra/log.hpp"

namespace referrald::http {

namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using socket_t = net::basic_stream_socket<tcp, executor>;

// Lingering close after an early refusal: at most this long and this many bytes.
constexpr auto k_linger_time = std::chrono::seconds(2);
constexpr std::size_t k_linger_bytes = 64u << 20;

class session;

// The body of the current request's streamed answer (answer_stream), made on any thread
// and written by its session. Its backlog is counted where it is made, so that the
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

// A session's streamed answer being written (response::streamed). Outside the session: clang
// before 16 takes a nested class with member initializers as not default-constructible
// within its enclosing class.
struct stream_state {
  response head;  // its status and header, for the access log
  bool chunked = true, keep = false;
  bool head_sent = false, writing = false;
  answer_stream::end end = answer_stream::end::more;
  std::string pending;           // made, not yet written
  std::size_t bytes = 0;         // written
  std::function<void()> resume;  // a paused producer's, run once the backlog drains
};

class session final : public source {
 public:
  session(socket_t&& socket, worker& w, std::shared_ptr<server::impl> srv, std::string remote)
      : source(w, std::move(srv), std::move(remote)),
        socket_(std::move(socket)),
        buffer_(k_header_limit) {}

  void start() {
    worker_.sources.emplace(this, std::static_pointer_cast<source>(shared_from_this()));
    do_read();
  }

  void sweep(std::chrono::steady_clock::time_point now) override {
    if (phase_ == phase::awaiting) {
      if (now >= deadline_) timed_out();
      return;
    }
    if (phase_ == phase::idle && srv_->draining) return close();
    if (phase_ != phase::closed && now >= deadline_) close();
  }

  void close_if_idle() override {
    if (phase_ == phase::idle) close();
  }

  bool take_body(exchange& ex, std::size_t next) override {
    auto& parser = *ex.parser;
    if (!ex.has_body && parser.is_done()) return ex.body_read = true;
    next_step_ = next;
    if (ex.has_body && iequals(ex.field(bhttp::field::expect), "100-continue")) {
      auto cont = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_,
                                                                       parser.get().version());
      bhttp::async_write(socket_, *cont, [self = me(), cont](beast::error_code ec, std::size_t) {
        if (ec || self->phase_ == phase::closed) return self->close();
        self->read_body();
      });
      return false;
    }
    read_body();
    return false;
  }

  std::shared_ptr<answer_stream> open_stream(std::uint64_t gen) override {
    auto stream = std::make_shared<session_stream>(me(), gen);
    stream_sink_ = stream;
    return stream;
  }

  // session_stream's calls, on this session's thread.
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

 private:
  std::shared_ptr<session> me() { return std::static_pointer_cast<session>(shared_from_this()); }

  void do_read() {
    if (srv_->draining) return close();
    stream_.reset();
    next_exchange();
    phase_ = phase::idle;
    deadline_ = now() + srv_->options.idle_timeout;
    read_header_bytes();
  }

  // Reads until the buffer holds a whole header (up to the blank line), then runs the chain.
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
    if (end != std::string_view::npos) {
      if (auto bad = read_request_head(*rq_->parser, head)) return refuse_now(std::move(*bad));
      buffer_.consume(end + 4);
      auto length = rq_->parser->content_length();
      rq_->has_body = (length && *length > 0) || rq_->parser->chunked();
      return run_chain(0);
    }
    if (buffer_.size() >= k_header_limit) {
      return refuse_now(domain::make_error(domain::errc::header_too_large,
                                           "the request header is larger than 16 KiB"));
    }
    rq_->scanned = bytes.size() < 3 ? 0 : bytes.size() - 3;
    std::size_t room = buffer_.max_size() - buffer_.size();
    socket_.async_read_some(buffer_.prepare(room),
                            [self = me()](beast::error_code ec, std::size_t n) {
                              self->buffer_.commit(n);
                              if (self->phase_ == phase::closed) return;
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

  void read_body() {
    bhttp::async_read(socket_, buffer_, *rq_->parser,
                      [self = me()](beast::error_code ec, std::size_t) {
                        if (self->phase_ != phase::reading) return;  // closed meanwhile
                        if (ec) return self->on_read_error(ec);
                        self->rq_->body_read = true;
                        self->run_chain(self->next_step_);
                      });
  }

  void on_read_error(beast::error_code ec) {
    if (phase_ == phase::closed) return;
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

  // The framing of an answer: its head (and body) written, or a streamed answer begun.
  void send(response resp) override {
    auto& req = rq_->parser->get();
    // A refusal sent before the body was read ends the connection: the unread body would
    // otherwise be taken for the next request.
    if (rq_->has_body && !rq_->body_read) rq_->close_after = true;
    bool keep = req.keep_alive() && !rq_->close_after && !resp.close && !srv_->draining;
    head_.clear();
    auto framed = write_head(head_, resp, req, keep);
    phase_ = phase::writing;
    deadline_ = now() + srv_->options.read_timeout;
    if (resp.streamed) return begin_stream(std::move(resp), framed);
    account_for(resp, resp.body.size());
    body_ = framed.body ? std::move(resp.body) : std::string();
    std::array<net::const_buffer, 2> out{net::buffer(head_), net::buffer(body_)};
    net::async_write(socket_, out,
                     [self = me(), keep = framed.keep](beast::error_code ec, std::size_t) {
                       self->on_write(keep, ec);
                     });
  }

  // A streamed answer (response::streamed): its head now, its bytes as `more` brings them.
  void begin_stream(response resp, head_written framed) {
    stream_.emplace();
    stream_->chunked = framed.chunked;
    stream_->keep = framed.keep;
    stream_->head = std::move(resp);
    net::async_write(socket_, net::buffer(head_), [self = me()](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      self->stream_->head_sent = true;
      self->pump();
    });
  }

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
      deadline_ = now() + srv_->options.read_timeout;
      auto written = [self = me(), data](beast::error_code ec, std::size_t) {
        self->stream_->writing = false;
        auto sink = self->stream_sink_.lock();
        bool drained = sink == nullptr || sink->written(data->size());
        if (ec) return self->close();
        if (drained && self->stream_->resume) self->resume_now();
        // Waiting for the producer, which stops by the request's deadline.
        self->deadline_ = self->now() + self->srv_->options.request_timeout;
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
                     [self = me(), keep = st.keep](beast::error_code ec, std::size_t) {
                       self->on_write(keep, ec);
                     });
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
    deadline_ = now() + k_linger_time;
    lingered_ = 0;
    drain();
  }

  void drain() {
    socket_.async_read_some(
        net::buffer(drain_buffer_), [self = me()](beast::error_code ec, std::size_t n) {
          self->lingered_ += n;
          if (ec || self->lingered_ > k_linger_bytes || self->phase_ != phase::lingering) {
            return self->close();
          }
          self->drain();
        });
  }

  void close() {
    counted_in_flight(false);
    if (phase_ == phase::closed) return;
    phase_ = phase::closed;
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);  // best effort: may already be gone
    socket_.close(ec);
    // A paused producer's resumption holds the producer, which holds this session: dropped
    // with the connection.
    if (stream_) stream_->resume = nullptr;
  }

  socket_t socket_;
  beast::flat_buffer buffer_;
  std::size_t next_step_ = 0;  // the step after the body's
  std::array<char, 16 * 1024> drain_buffer_;
  std::size_t lingered_ = 0;
  // A streamed answer being written (response::streamed).
  std::optional<stream_state> stream_;
  // The current request's answer stream, when its route streams (its producer holds it).
  std::weak_ptr<session_stream> stream_sink_;
  // The answer being written: its head, and its body when one is sent.
  std::string head_, body_;
};

void session_stream::send(std::string bytes, end how) {
  unsent_.fetch_add(bytes.size(), std::memory_order_relaxed);
  session_->dispatch([s = session_, gen = gen_, bytes = std::move(bytes), how]() mutable {
    s->more(gen, std::move(bytes), how);
  });
}

void session_stream::when_drained(std::function<void()> resume) {
  session_->dispatch([s = session_, gen = gen_, resume = std::move(resume)]() mutable {
    s->when_drained(gen, std::move(resume));
  });
}

}  // namespace

void serve_connection(socket_t socket, worker& w, std::shared_ptr<server::impl> srv) {
  beast::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  auto peer = socket.remote_endpoint(ec);
  std::string remote = ec ? std::string() : peer.address().to_string();
  auto s = std::make_shared<session>(std::move(socket), w, std::move(srv), std::move(remote));
  net::post(w.ioc, [s] { s->start(); });
}

}  // namespace referrald::http
