// The durable-write limits of the log when every write comes over HTTP from the same load
// client the server's benchmarks use: the smallest server that can do it. One thread per
// connection reads a request (its header up to the blank line, then Content-Length bytes of
// body, at most 1 MiB), makes the body durable, and answers 201 with the body. No routing, no
// authentication, no JSON: the ceiling for any service that makes a write durable before it
// answers, on this machine with its client beside it. The body is made durable as each
// mode's ceiling writes it:
//   rocksdb DIR            padded to 420 bytes, a RocksDB put with sync=true under a key of
//                          its own (RocksDB groups the concurrent ones into one fsync, as
//                          bench_synced_puts' threads);
//   stream URLS STREAM R   padded to 350 bytes, published to a stream made as
//                          bench_stream_alone makes it (file storage, R replicas), each
//                          connection on a subject of its own with "Nats-Msg-Id" and
//                          "Nats-Expected-Last-Subject-Sequence", and answered after the
//                          acknowledgement (one NATS connection for all, as
//                          bench_stream_alone's writers); the stream is deleted at the end;
//   copy URLS STREAM R DIR NODE
//                          as stream, the subjects named after NODE, and the whole stream
//                          followed in order into a RocksDB copy at DIR, as each node of a
//                          cluster keeps one: a push consumer as a node's, on the same
//                          connection (acknowledgements none, flow control, heartbeats, in
//                          memory, one replica), and for each group of messages delivered
//                          together one batch written to the log without a sync, with each
//                          message's payload under its stream sequence, its subject's last
//                          sequence and the last sequence applied. Two of them on one stream, each
//                          under half the load, are the smallest cluster of two nodes.
//
// Each mode has a second way to serve, the one a server that groups its own work takes (as
// Redis does with appendfsync always, or nginx with its one event loop per worker): "grouped"
// before the mode's name. One thread serves every connection (epoll), one request of each
// connection at a time:
//   grouped DIR            each turn of its loop reads every request that has arrived, makes
//                          them durable together in one synced RocksDB write batch (each body
//                          padded to 420 bytes under a key of its own), then answers them all;
//   grouped-stream URLS STREAM R, grouped-copy URLS STREAM R DIR NODE
//                          each request published as the stream mode publishes it, without
//                          waiting: the acknowledgements come back on the NATS client's thread,
//                          which hands them to the serving thread (an eventfd), and each is
//                          answered then; grouped-copy follows the stream into its copy as copy
//                          does.
//
// Prints "listening on 127.0.0.1:PORT" once it accepts; runs until SIGTERM or SIGINT, then
// prints the writes it made (and for rocksdb the log syncs, from its DB stats) and its own
// CPU time.
//
//   bench_http_puts rocksdb DIR
//   bench_http_puts stream URLS STREAM REPLICAS
//   bench_http_puts copy URLS STREAM REPLICAS DIR NODE
//   bench_http_puts grouped DIR
//   bench_http_puts grouped-stream URLS STREAM REPLICAS
//   bench_http_puts grouped-copy URLS STREAM REPLICAS DIR NODE

#include "bench_stream.hpp"
#include "wal_syncs.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

std::atomic<long> stored{0};
std::atomic<bool> failed{false};

// The largest body taken (a create's is about 120 bytes): a larger one is refused with 413.
constexpr long max_body = 1 << 20;

// A connection's writer: makes one body durable, true once it is.
using writer = std::function<bool(std::string_view body)>;

// content_length: the value of the header's Content-Length (any case), or -1.
long content_length(std::string_view head) {
  static constexpr std::string_view name = "content-length:";
  for (std::size_t at = 0; (at = head.find("\r\n", at)) != std::string_view::npos;) {
    at += 2;
    if (head.size() - at < name.size()) break;
    bool same = true;
    for (std::size_t i = 0; i < name.size() && same; ++i)
      same = (head[at + i] | 0x20) == name[i];
    if (same) return std::strtol(head.data() + at + name.size(), nullptr, 10);
  }
  return -1;
}

bool send_all(int fd, std::string_view out) {
  for (std::size_t sent = 0; sent < out.size();) {
    auto n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EAGAIN) {  // a connection of the grouped mode, its buffer full
      pollfd writable{fd, POLLOUT, 0};
      ::poll(&writable, 1, -1);
      continue;
    }
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

// The first request in `in`: its whole length (0 when more must be read first), its body, or
// the status that refuses it (411, 413) with the connection.
struct request {
  std::size_t whole = 0;
  std::string_view body;
  const char* refused = nullptr;
};
request first_request(std::string_view in) {
  request r;
  std::size_t end = in.find("\r\n\r\n");
  if (end == std::string_view::npos) return r;
  long length = content_length(in.substr(0, end + 2));
  if (length < 0) {
    r.refused = "HTTP/1.1 411 Length Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  } else if (length > max_body) {
    r.refused = "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  } else if (in.size() >= end + 4 + static_cast<std::size_t>(length)) {
    r.whole = end + 4 + static_cast<std::size_t>(length);
    r.body = in.substr(end + 4, static_cast<std::size_t>(length));
  }
  return r;
}

// The 201 that answers a stored body.
void append_created(std::string& out, std::string_view body) {
  out += "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: ";
  out += std::to_string(body.size());
  out += "\r\n\r\n";
  out += body;
}

// serve: one connection's requests, in turn, until the client closes it.
void serve(int fd, const writer& write) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::string in, out;
  char chunk[16384];
  // read_until: more of the connection into `in` until done() holds; false when the
  // connection ends first.
  auto read_until = [&](auto done) {
    while (!done()) {
      auto n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) return false;
      in.append(chunk, static_cast<std::size_t>(n));
    }
    return true;
  };
  for (;;) {
    request r;
    if (!read_until([&] { return (r = first_request(in)).whole > 0 || r.refused; })) break;
    if (r.refused) {
      send_all(fd, r.refused);
      break;
    }
    if (!write(r.body)) {
      failed = true;
      send_all(fd, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
      break;
    }
    ++stored;
    out.clear();
    append_created(out, r.body);
    in.erase(0, r.whole);
    if (!send_all(fd, out)) break;
  }
  ::close(fd);
}

// Where the grouped modes' one thread makes bodies durable. A connection has one request at a
// time taken; take() is given it, under the connection's number. end_turn() is called once the
// turn's readable connections were read, and appends to `done` the connections whose request is
// durable; a sink that learns it later on another thread names the connections in drain(),
// after making wake_fd() (an eventfd) readable.
struct grouped_sink {
  virtual ~grouped_sink() = default;
  virtual void take(long connection, std::string_view body) = 0;
  virtual bool end_turn(std::vector<long>& done) = 0;
  virtual int wake_fd() { return -1; }
  virtual bool drain(std::vector<long>& /*done*/) { return true; }
};

// serve_grouped: the grouped modes' one thread, serving every connection `listener` accepts
// until the process ends (see the top of this file).
void serve_grouped(int listener, grouped_sink& sink) {
  int poller = ::epoll_create1(0);
  auto watch = [poller](int fd, std::uint64_t tag) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    ::epoll_ctl(poller, EPOLL_CTL_ADD, fd, &ev);
  };
  // Tags: 0 the listener, 1 the sink's wake-up, from 2 a connection's number.
  ::fcntl(listener, F_SETFL, O_NONBLOCK);
  watch(listener, 0);
  if (sink.wake_fd() >= 0) watch(sink.wake_fd(), 1);
  struct connection {
    int fd = -1;
    std::string in;         // its bytes not yet answered
    std::size_t whole = 0;  // the taken request's length in `in`, 0 when none is
  };
  std::unordered_map<long, connection> open;
  long next = 2;
  std::vector<epoll_event> ready(256);
  std::vector<long> done;
  std::string out;
  char chunk[16384];
  bool taken = false;  // a request was taken since the last end_turn
  // The connection's next request given to the sink, when it has a whole one and none is
  // taken; false when it refused one (and was closed).
  auto take_next = [&](long id, connection& c) {
    if (c.whole > 0) return true;
    request r = first_request(c.in);
    if (r.refused) {
      send_all(c.fd, r.refused);
      return false;
    }
    if (r.whole == 0) return true;
    c.whole = r.whole;
    sink.take(id, r.body);
    taken = true;
    return true;
  };
  auto close_connection = [&](long id) {
    auto it = open.find(id);
    ::epoll_ctl(poller, EPOLL_CTL_DEL, it->second.fd, nullptr);
    ::close(it->second.fd);
    open.erase(it);  // a request still taken is made durable; its answer goes nowhere
  };
  for (;;) {
    int n = ::epoll_wait(poller, ready.data(), static_cast<int>(ready.size()), taken ? 0 : -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;
    done.clear();
    for (int i = 0; i < n; ++i) {
      std::uint64_t tag = ready[static_cast<std::size_t>(i)].data.u64;
      if (tag == 0) {
        for (int fd; (fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
          int one = 1;
          ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          open[next].fd = fd;
          watch(fd, static_cast<std::uint64_t>(next++));
        }
        continue;
      }
      if (tag == 1) {
        if (!sink.drain(done)) return;
        continue;
      }
      long id = static_cast<long>(tag);
      auto it = open.find(id);
      if (it == open.end()) continue;
      connection& c = it->second;
      bool alive = true;
      for (;;) {
        auto got = ::recv(c.fd, chunk, sizeof chunk, 0);
        if (got > 0) {
          c.in.append(chunk, static_cast<std::size_t>(got));
          continue;
        }
        alive = got < 0 && errno == EAGAIN;
        break;
      }
      if (!alive || !take_next(id, c)) close_connection(id);
    }
    if (taken) {
      taken = false;
      if (!sink.end_turn(done)) return;
    }
    // Answered in the order they became durable; a connection's next request, already
    // read, is taken for the next turn.
    for (long id : done) {
      auto it = open.find(id);
      if (it == open.end()) continue;
      connection& c = it->second;
      out.clear();
      append_created(out, first_request(c.in).body);
      c.in.erase(0, c.whole);
      c.whole = 0;
      if (!send_all(c.fd, out) || !take_next(id, c)) close_connection(id);
    }
  }
}

// Counts the log syncs of the database open_db opens (one per process).
wal_sync_counter wal_counter;

// Opens (makes) the RocksDB database at DIR into DB with the default options, its log syncs
// counted by wal_counter; false, said on stderr, when it cannot.
bool open_db(const char* dir, std::unique_ptr<rocksdb::DB>& db) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.env = wal_counter.env();
  rocksdb::DB* raw = nullptr;
  auto s = rocksdb::DB::Open(options, dir, &raw);
  if (!s.ok()) {
    std::fprintf(stderr, "bench_http_puts: open %s: %s\n", dir, s.ToString().c_str());
    return false;
  }
  db.reset(raw);
  return true;
}

// The rocksdb mode: synced puts of the body padded to 420 bytes.
struct rocksdb_log {
  std::unique_ptr<rocksdb::DB> db;

  bool open(const char* dir) { return open_db(dir, db); }

  writer for_connection(long connection) {
    return [this, connection, i = 0L, value = std::string()](std::string_view body) mutable {
      rocksdb::WriteOptions wo;
      wo.sync = true;
      value.assign(body);
      if (value.size() < 420) value.resize(420, ' ');
      return db->Put(wo, "c" + std::to_string(connection) + "-" + std::to_string(i++), value).ok();
    };
  }

  std::string summary() { return " wal_syncs=" + std::to_string(wal_counter.syncs()); }
};

// The grouped mode's sink: a turn's bodies, each padded to 420 bytes under a key of its own,
// made durable by one synced write batch.
struct grouped_rocksdb : grouped_sink {
  rocksdb::DB& db;
  rocksdb::WriteBatch batch;
  std::vector<long> turn;
  std::string value;
  long next_key = 0;

  explicit grouped_rocksdb(rocksdb::DB& d) : db(d) {}

  void take(long connection, std::string_view body) override {
    value.assign(body);
    if (value.size() < 420) value.resize(420, ' ');
    batch.Put("g" + std::to_string(next_key++), value);
    turn.push_back(connection);
  }

  bool end_turn(std::vector<long>& done) override {
    if (turn.empty()) return true;
    rocksdb::WriteOptions synced;
    synced.sync = true;
    if (!db.Write(synced, &batch).ok()) {
      failed = true;
      return false;
    }
    stored += static_cast<long>(turn.size());
    done.insert(done.end(), turn.begin(), turn.end());
    turn.clear();
    batch.Clear();
    return true;
  }
};

// The stream mode: the body padded to 350 bytes, published with a node's headers on the
// connection's own subject and answered after the acknowledgement.
struct stream_log {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  std::string stream;
  std::string node;  // the subjects' prefix under the stream's ("" or "NODE.")

  bool open(const std::string& urls, std::string name, int replicas) {
    stream = std::move(name);
    return open_bench_stream("bench_http_puts", urls, stream, replicas, &nc, &js);
  }

  writer for_connection(long connection) {
    return [this, subject = "bench." + stream + "." + node + std::to_string(connection),
            last = std::uint64_t{0}, value = std::string()](std::string_view body) mutable {
      value.assign(body);
      if (value.size() < 350) value.resize(350, ' ');
      return publish_fenced(js, subject, value, last);
    };
  }

  // Deletes the stream, so that what is measured next meets the servers as before (with
  // copies, the server stopped first deletes it and the other finds it gone).
  std::string summary() {
    jsErrCode code = jsErrCode(0);
    natsStatus s = js_DeleteStream(js, stream.c_str(), nullptr, &code);
    return s == NATS_OK || s == NATS_NOT_FOUND
               ? ""
               : std::string(" (the stream was not deleted: ") + natsStatus_GetText(s) + ")";
  }
};

// The grouped stream modes' sink: each body padded to 350 bytes and published as the stream
// mode publishes it (the connection's own subject, its id and expected last sequence), but
// without waiting: the acknowledgements come back on the NATS client's thread, which hands
// them to the serving thread through an eventfd.
struct grouped_stream : grouped_sink {
  stream_log& log;
  jsCtx* js = nullptr;
  int wake = -1;
  std::mutex mu;
  std::vector<std::pair<long, std::uint64_t>> acked, draining;  // a sequence of 0: refused
  std::unordered_map<long, std::uint64_t> last;  // each connection's subject's last sequence
  std::string value;

  explicit grouped_stream(stream_log& l) : log(l) {}

  bool open() {
    wake = ::eventfd(0, EFD_NONBLOCK);
    jsOptions ja;
    jsOptions_Init(&ja);
    ja.PublishAsync.MaxPending = 4096;
    ja.PublishAsync.AckHandler = &grouped_stream::on_ack;
    ja.PublishAsync.AckHandlerClosure = this;
    return wake >= 0 && natsConnection_JetStream(&js, log.nc, &ja) == NATS_OK;
  }

  int wake_fd() override { return wake; }

  void take(long connection, std::string_view body) override {
    std::string subject = "bench." + log.stream + "." + log.node + std::to_string(connection);
    value.assign(body);
    if (value.size() < 350) value.resize(350, ' ');
    natsMsg* m = fenced_message(subject, value, last[connection]);
    if (m == nullptr || js_PublishMsgAsync(js, &m, nullptr) != NATS_OK) {
      if (m != nullptr) natsMsg_Destroy(m);
      acknowledged(connection, 0);
    }
  }

  bool end_turn(std::vector<long>&) override { return true; }

  bool drain(std::vector<long>& done) override {
    std::uint64_t count = 0;
    while (::read(wake, &count, sizeof count) < 0 && errno == EINTR) {
    }
    {
      std::lock_guard lock(mu);
      draining.swap(acked);
    }
    for (auto [connection, seq] : draining) {
      if (seq == 0) {
        failed = true;
        return false;
      }
      last[connection] = seq;
      ++stored;
      done.push_back(connection);
    }
    draining.clear();
    return true;
  }

  void acknowledged(long connection, std::uint64_t seq) {
    {
      std::lock_guard lock(mu);
      acked.emplace_back(connection, seq);
    }
    std::uint64_t one = 1;
    while (::write(wake, &one, sizeof one) < 0 && errno == EINTR) {
    }
  }

  static void on_ack(jsCtx*, natsMsg* m, jsPubAck* pa, jsPubAckErr*, void* closure) {
    const char* subject = natsMsg_GetSubject(m);
    long connection = std::strtol(std::strrchr(subject, '.') + 1, nullptr, 10);
    natsMsg_Destroy(m);
    static_cast<grouped_stream*>(closure)->acknowledged(
        connection, pa != nullptr && !pa->Duplicate ? pa->Sequence : 0);
  }
};

// The copy mode's follower: the stream from its first message, in order, into a RocksDB copy.
struct stream_copy {
  std::unique_ptr<rocksdb::DB> db;
  natsSubscription* sub = nullptr;
  rocksdb::WriteBatch group;
  std::uint64_t last = 0;
  std::atomic<long> applied{0};

  static std::string fixed64(std::uint64_t n) {
    std::string out(8, '\0');
    for (int i = 7; i >= 0; --i, n >>= 8)
      out[static_cast<std::size_t>(i)] = static_cast<char>(n & 0xff);
    return out;
  }

  static void on_message(natsConnection*, natsSubscription* from, natsMsg* m, void* closure) {
    auto* self = static_cast<stream_copy*>(closure);
    int queued = 0;
    bool more = natsSubscription_GetPending(from, &queued, nullptr) == NATS_OK && queued > 0;
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
      std::uint64_t seq = meta->Sequence.Stream;
      jsMsgMetaData_Destroy(meta);
      std::string at = fixed64(seq);
      self->group.Put("e" + at, rocksdb::Slice(natsMsg_GetData(m),
                                               static_cast<std::size_t>(natsMsg_GetDataLength(m))));
      self->group.Put(std::string("h") + natsMsg_GetSubject(m), at);
      self->last = seq;
      ++self->applied;
    } else {
      failed = true;  // a message without its stream sequence: not from the stream
    }
    natsMsg_Destroy(m);
    if (more || self->group.Count() == 0) return;
    self->group.Put("applied", fixed64(self->last));
    if (!self->db->Write(rocksdb::WriteOptions(), &self->group).ok()) failed = true;
    self->group.Clear();
  }

  bool open(const char* dir, const stream_log& log) {
    if (!open_db(dir, db)) return false;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = log.stream.c_str();
    so.Config.DeliverPolicy = js_DeliverAll;
    so.Config.AckPolicy = js_AckNone;
    so.Config.MaxDeliver = 1;
    so.Config.FlowControl = true;
    so.Config.Heartbeat = 1'000'000'000;  // a second, in nanoseconds
    so.Config.MemoryStorage = true;
    so.Config.Replicas = 1;
    jsErrCode code = jsErrCode(0);
    std::string all = "bench." + log.stream + ".>";
    natsStatus st = js_Subscribe(&sub, log.js, all.c_str(), &stream_copy::on_message, this, nullptr,
                                 &so, &code);
    if (st != NATS_OK) {
      std::fprintf(stderr, "bench_http_puts: follow the stream: %s (JetStream error %d)\n",
                   natsStatus_GetText(st), static_cast<int>(code));
      return false;
    }
    natsSubscription_SetPendingLimits(sub, -1, -1);
    return true;
  }

  std::string summary() { return " applied=" + std::to_string(applied.load()); }
};

}  // namespace

int main(int argc, char** argv) {
  // SIGTERM and SIGINT are waited for by this thread alone. They are blocked before any
  // other thread starts (the NATS client's start in open()), so that every thread inherits
  // the mask: one sent again while the summary is made stays pending instead of ending the
  // process from another thread.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  std::string mode = argc > 1 ? argv[1] : "";
  rocksdb_log disk;
  stream_log stream;
  stream_copy copy;
  bool opened = false;
  // The grouped modes: the same ceiling served by one thread that groups its requests.
  bool grouped = mode.starts_with("grouped");
  std::string base = mode == "grouped" ? "rocksdb" : grouped ? mode.substr(8) : mode;
  if (base == "rocksdb" && argc == 3) {
    opened = disk.open(argv[2]);
  } else if (base == "stream" && argc == 5 && std::atoi(argv[4]) > 0) {
    opened = stream.open(argv[2], argv[3], std::atoi(argv[4]));
  } else if (base == "copy" && argc == 7 && std::atoi(argv[4]) > 0 && *argv[6] != '\0') {
    stream.node = std::string(argv[6]) + ".";
    opened = stream.open(argv[2], argv[3], std::atoi(argv[4])) && copy.open(argv[5], stream);
  } else {
    std::fprintf(stderr,
                 "usage: bench_http_puts rocksdb DIR\n"
                 "       bench_http_puts grouped DIR\n"
                 "       bench_http_puts stream URLS STREAM REPLICAS\n"
                 "       bench_http_puts copy URLS STREAM REPLICAS DIR NODE\n"
                 "       bench_http_puts grouped-stream URLS STREAM REPLICAS\n"
                 "       bench_http_puts grouped-copy URLS STREAM REPLICAS DIR NODE\n");
    return 2;
  }
  std::unique_ptr<grouped_sink> sink;
  if (opened && grouped && base == "rocksdb") {
    sink = std::make_unique<grouped_rocksdb>(*disk.db);
  } else if (opened && grouped) {
    auto s = std::make_unique<grouped_stream>(stream);
    opened = s->open();
    sink = std::move(s);
  }
  if (!opened) return 1;

  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&address), size) != 0 ||
      ::listen(listener, 128) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    std::perror("bench_http_puts: listen");
    return 1;
  }
  if (sink) {
    std::thread([&] { serve_grouped(listener, *sink); }).detach();
  } else {
    std::thread([&] {
      for (long connection = 0;; ++connection) {
        int fd = ::accept(listener, nullptr, nullptr);
        if (fd < 0) {
          if (errno == EINTR || errno == ECONNABORTED) continue;
          return;
        }
        auto write =
            mode == "rocksdb" ? disk.for_connection(connection) : stream.for_connection(connection);
        std::thread([fd, write = std::move(write)] { serve(fd, write); }).detach();
      }
    }).detach();
  }
  std::printf("listening on 127.0.0.1:%u\n", ntohs(address.sin_port));
  std::fflush(stdout);
  int signal = 0;
  sigwait(&stop, &signal);

  // The copy's count first: the stream's summary deletes the stream.
  std::string summary = base == "copy" ? copy.summary() : "";
  summary += base == "rocksdb" ? disk.summary() : stream.summary();
  struct rusage used {};
  ::getrusage(RUSAGE_SELF, &used);
  auto ms = [](const timeval& t) {
    return t.tv_sec * 1000.0 + t.tv_usec / 1000.0;
  };
  std::printf("http puts: puts=%ld%s cpu_ms=%.0f sys_ms=%.0f%s\n", stored.load(), summary.c_str(),
              ms(used.ru_utime) + ms(used.ru_stime), ms(used.ru_stime),
              failed ? " (a write failed)" : "");
  std::fflush(stdout);
  // The connections' threads may still be in a write: leave without closing the database or
  // the NATS connection under them (a synced put is on disk; an acknowledged one is stored).
  std::_Exit(failed ? 1 : 0);
}
