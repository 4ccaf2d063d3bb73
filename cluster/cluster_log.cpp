#include "cluster/cluster_log.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <nats/nats.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include <rapidjson/document.h>

#include "cluster/cluster_native.hpp"
#include "cluster/nats_server_info.hpp"
#include "domain/base/codec.hpp"
#include "domain/base/digest.hpp"
#include "infra/log.hpp"

namespace referrald::cluster {

using store::column;
using store::k_newer_release;

namespace {

constexpr std::uint8_t k_write_version = 1;
constexpr std::string_view k_events_prefix = "referrald.events.";
constexpr std::string_view k_records_prefix = "referrald.records.";
constexpr std::uint8_t k_records_version = 1;
// The columns records may be written to: never events or snapshots; of the metadata, only
// admin audit entries (store/admin_audit.hpp).
constexpr column k_record_columns[] = {column::keys, column::connections, column::ai_rows,
                                       column::ai_batches, column::meta};
constexpr std::string_view k_record_meta_prefix = "audit.";
constexpr std::int32_t k_max_message_bytes = 8 << 20;
constexpr std::string_view k_claims_suffix = "_IDEM";
constexpr std::string_view k_claims_prefix = "referrald-idem.";
// A claim message is kept a day and an hour: past the 24 hours an Idempotency-Key holds.
constexpr std::int64_t k_claims_max_age_ns = 25LL * 3600 * 1000 * 1000 * 1000;

// JetStream error 10158 (nats-server 2.11 and later): a message with the same id is being
// stored and is not decided yet.
constexpr int k_duplicate_in_process = 10158;

domain::error nats_error(std::string_view what, natsStatus s, jsErrCode code = jsErrCode(0)) {
  std::string message = std::string(what) + ": " + natsStatus_GetText(s);
  if (code != 0) message += " (JetStream error " + std::to_string(static_cast<int>(code)) + ")";
  // Without a quorum or a server, a request times out or finds no responder: the cluster
  // cannot take it now, and a retry later may succeed.
  bool later = s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS || s == NATS_CONNECTION_CLOSED ||
               s == NATS_NO_SERVER || code == JSClusterNotAvailErr || code == JSClusterNoPeersErr ||
               code == JSInsufficientResourcesErr ||
               static_cast<int>(code) == k_duplicate_in_process;
  return domain::make_error(later ? domain::errc::unavailable : domain::errc::internal,
                            "the cluster's event stream: " + message);
}

// A publish that reached no stream leader (one is being elected: a stepdown, a lost
// server): nothing was stored, and the same message may be published again a moment later.
bool leader_gone(natsStatus s, jsErrCode code) {
  return s == NATS_NO_RESPONDERS || code == JSClusterNotAvailErr;
}

// An attempt worth making again within the write's publish timeout: no leader took it, or
// none answered within the attempt's wait (the server it went to stepped down or went
// away as it arrived). Safe either way: the same message id and expectation store a write
// once, and an attempt that did store it is told apart from another writer's by the
// caller's check of the duplicate or the failed expectation.
bool worth_again(natsStatus s, jsErrCode code) {
  return leader_gone(s, code) || s == NATS_TIMEOUT ||
         static_cast<int>(code) == k_duplicate_in_process;
}

// An acknowledgement that says the message's id was claimed but not by which message: the
// stream's leader checks ids before storing (nats-server 2.10.14 and later) and answers a
// second message with an id still in flight "duplicate" at sequence 0 (2.11 answers error
// 10158 instead). The first may be this write's own earlier attempt or another writer's,
// and may yet fail: undecided, never beaten. Published again with the same id and
// expectation until decided.
bool undecided(const jsPubAck* ack) {
  return ack != nullptr && ack->Duplicate && ack->Sequence == 0;
}

domain::error undecided_error() {
  return domain::make_error(domain::errc::unavailable,
                            "the cluster's event stream: the write's message id is being stored "
                            "by another attempt, undecided within the publish timeout");
}

// How long one attempt waits for its acknowledgement, `left` being what remains of the
// write's publish timeout `whole`: a third of it (at least 100 ms), so that an attempt lost
// in a leader's hand-over leaves time to publish again.
std::int64_t attempt_wait(std::chrono::milliseconds left, std::chrono::milliseconds whole) {
  auto third = std::max<std::chrono::milliseconds>(whole / 3, std::chrono::milliseconds(100));
  return std::max<std::int64_t>(1, std::min(left, third).count());
}

// The wait before publishing again after `attempts` tries: 25 ms, doubling to 200 ms.
std::chrono::milliseconds retry_delay(int attempts) {
  return std::chrono::milliseconds(25 << std::min(attempts, 3));
}

// The message id of an account's write: the position it claims (see cluster_log::append).
std::string position_id(const cluster_write& w, std::uint64_t expected) {
  return w.account_id + "/" + std::to_string(w.first_seq) + "/" + std::to_string(expected);
}

std::string_view payload_of(natsMsg* m) {
  return {natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m))};
}

std::uint64_t stream_seq_of(natsMsg* m) {
  std::uint64_t seq = natsMsg_GetSequence(m);
  if (seq == 0) {
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
      seq = meta->Sequence.Stream;
      jsMsgMetaData_Destroy(meta);
    }
  }
  return seq;
}

domain::result<cluster_write> from_message(natsMsg* m) {
  auto w = decode_cluster_write(payload_of(m));
  if (!w) return w;
  w->stream_seq = stream_seq_of(m);
  return w;
}

domain::result<cluster_records> records_from_message(natsMsg* m) {
  std::string_view subject = natsMsg_GetSubject(m);
  if (!subject.starts_with(k_records_prefix)) {
    return domain::make_error(domain::errc::store_corrupted,
                              "a message of the cluster's stream has the subject " +
                                  std::string(subject) + ", unknown to this release (" +
                                  std::string(k_newer_release) + "?)");
  }
  auto r = decode_cluster_records(subject.substr(k_records_prefix.size()), payload_of(m));
  if (!r) return r;
  r->stream_seq = stream_seq_of(m);
  return r;
}

// Any message of the stream: a write of an account's events, or records.
domain::result<cluster_message> message_from(natsMsg* m) {
  cluster_message out;
  std::string_view subject = natsMsg_GetSubject(m);
  if (subject.starts_with(k_events_prefix)) {
    auto w = from_message(m);
    if (!w) return std::move(w).err();
    out.body = std::move(*w);
  } else {
    auto r = records_from_message(m);
    if (!r) return std::move(r).err();
    out.body = std::move(*r);
  }
  jsMsgMetaData* meta = nullptr;
  if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
    out.published_ms = meta->Timestamp / 1000000;
    out.pending = meta->NumPending;
    jsMsgMetaData_Destroy(meta);
  } else {
    out.published_ms = natsMsg_GetTime(m) / 1000000;  // one read by sequence
  }
  return out;
}

// Who wrote a stored message (cluster_write::writer, cluster_records::writer).
domain::result<std::string> writer_of(natsMsg* m) {
  std::string_view subject = natsMsg_GetSubject(m);
  if (subject.starts_with(k_events_prefix)) {
    auto w = from_message(m);
    if (!w) return std::move(w).err();
    return std::move(w->writer);
  }
  auto r = records_from_message(m);
  if (!r) return std::move(r).err();
  return std::move(r->writer);
}

}  // namespace

std::string cluster_subject(std::string_view account_id) {
  return std::string(k_events_prefix) + std::string(account_id);
}

std::string encode_cluster_write(const cluster_write& w) {
  std::string out;
  std::size_t bytes = 16 + w.account_id.size();
  for (const auto& v : w.values)
    bytes += v.size() + 5;
  out.reserve(bytes);
  out.push_back(static_cast<char>(k_write_version));
  codec::put_lpstr(out, w.account_id);
  codec::put_varint(out, w.first_seq);
  codec::put_varint(out, w.values.size());
  for (const auto& v : w.values)
    codec::put_lpstr(out, v);
  codec::put_lpstr(out, w.writer);
  return out;
}

domain::result<cluster_write> decode_cluster_write(std::string_view payload) {
  auto bad = [](const char* why) {
    return domain::make_error(domain::errc::store_corrupted,
                              std::string("a write in the cluster's event stream ") + why);
  };
  codec::reader r(payload);
  std::uint8_t version = 0;
  if (!r.u8(version)) return bad("is truncated");
  if (version > k_write_version) {
    return domain::make_error(domain::errc::store_corrupted,
                              "a write in the cluster's event stream has version " +
                                  std::to_string(version) + ", " + std::string(k_newer_release));
  }
  if (version != k_write_version) return bad("has an unknown version");
  cluster_write w;
  std::uint64_t count = 0;
  if (!r.lpstr(w.account_id) || !r.varint(w.first_seq) || !r.varint(count) || w.first_seq == 0 ||
      count == 0 || count > r.remaining()) {
    return bad("is truncated");
  }
  w.values.resize(count);
  for (auto& v : w.values)
    if (!r.lpstr(v)) return bad("is truncated");
  if (!r.lpstr(w.writer)) return bad("is truncated");
  if (r.remaining() != 0) return bad("has bytes after its events");
  return w;
}

std::string encode_cluster_records(const cluster_records& r) {
  std::string out;
  std::size_t bytes = 16 + r.writer.size();
  for (const auto& rec : r.records)
    bytes += rec.key.size() + rec.value.size() + 24;
  out.reserve(bytes);
  out.push_back(static_cast<char>(k_records_version));
  codec::put_varint(out, r.records.size());
  for (const auto& rec : r.records) {
    codec::put_lpstr(out, column_name(rec.cf));
    codec::put_lpstr(out, rec.key);
    codec::put_lpstr(out, rec.value);
  }
  codec::put_lpstr(out, r.writer);
  return out;
}

domain::result<cluster_records> decode_cluster_records(std::string_view scope,
                                                       std::string_view payload) {
  auto bad = [&](const std::string& why) {
    return domain::make_error(domain::errc::store_corrupted,
                              "records " + std::string(scope) + " in the cluster's stream " + why);
  };
  codec::reader r(payload);
  std::uint8_t version = 0;
  if (!r.u8(version)) return bad("are truncated");
  if (version > k_records_version) {
    return bad("have version " + std::to_string(version) + ", " + std::string(k_newer_release));
  }
  if (version != k_records_version) return bad("have an unknown version");
  cluster_records out;
  out.scope = scope;
  std::uint64_t count = 0;
  if (!r.varint(count) || count > r.remaining()) return bad("are truncated");
  out.records.resize(count);
  for (auto& rec : out.records) {
    std::string name;
    if (!r.lpstr(name) || !r.lpstr(rec.key) || !r.lpstr(rec.value)) return bad("are truncated");
    auto known = std::find_if(std::begin(k_record_columns), std::end(k_record_columns),
                              [&](column c) { return column_name(c) == name; });
    if (known == std::end(k_record_columns)) {
      return bad("name the column " + name + ", unknown to this release (" +
                 std::string(k_newer_release) + "?)");
    }
    rec.cf = *known;
    if (rec.cf == column::meta && !rec.key.starts_with(k_record_meta_prefix)) {
      return bad("write the metadata " + rec.key + ", unknown to this release (" +
                 std::string(k_newer_release) + "?)");
    }
  }
  if (!r.lpstr(out.writer)) return bad("are truncated");
  if (r.remaining() != 0) return bad("have bytes after their writer");
  return out;
}

struct cluster_log::impl {
  cluster_options options;
  std::string writer_prefix;  // node name "/" process nonce "/"
  std::atomic<std::uint64_t> writes{0};
  natsOptions* opts = nullptr;
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  // Asynchronous appends (append_async): their own context, whose acknowledgements come to
  // on_ack; what is waiting, by message id (one write per account position is in flight).
  jsCtx* js_async = nullptr;
  struct async_append {
    std::function<void(domain::result<std::uint64_t>)> done;
    std::string subject, writer, lost;
    // To publish it again while the stream has no leader (leader_gone()).
    std::string id, payload;
    std::uint64_t expected = 0;
    std::chrono::steady_clock::time_point until;
    int attempts = 0;
  };
  std::mutex async_mu;
  std::unordered_map<std::string, async_append> async_waiting;
  std::mutex publish_mu;  // a message being published is not destroyed meanwhile (on_ack)
  // Outcomes that need a look at the stream (blocking requests), off the client's thread.
  std::mutex resolve_mu;
  std::condition_variable resolve_cv;
  std::deque<std::function<void()>> resolve_jobs;
  // Jobs due later (an append published again); called with true when the log closes first.
  std::multimap<std::chrono::steady_clock::time_point, std::function<void(bool closing)>>
      resolve_delayed;
  bool resolve_stopping = false;
  std::thread resolver;
  std::mutex follow_mu;
  natsSubscription* sub = nullptr;
  std::function<void(domain::result<cluster_message>)> on_write;

  // The follower: an ordered push consumer from next_seq on. The client recreates it when
  // its heartbeats stop, but not when that fails (the cluster electing leaders at that
  // moment): the watchdog then subscribes again from the next sequence, when the stream
  // has messages the follower has not had for a while.
  std::uint64_t next_seq = 1;  // under deliver_mu (and follow_mu while subscribing)
  std::mutex deliver_mu;
  std::atomic<std::chrono::steady_clock::time_point> last_delivery{};
  std::atomic<bool> refollow{false};  // a gap could not be filled: subscribe again

  // A halted follower passes nothing on any more (see halt()).
  std::atomic<bool> halted_flag{false};
  mutable std::mutex halt_mu;
  std::string halted_why;  // under halt_mu
  std::function<void(std::uint64_t)> on_diverged;

  // What the follower applied and the stream's leader has not confirmed yet, as (stream
  // sequence, fingerprint of subject and payload); the most recent ones when there were
  // many. `confirmed` is the last one the leader confirmed. Both under deliver_mu.
  struct applied_mark {
    std::uint64_t seq = 0;
    std::uint64_t print = 0;
  };
  static constexpr std::size_t k_unconfirmed_kept = 4096;
  std::vector<applied_mark> unconfirmed;
  applied_mark confirmed;
  // Confirm every message applied since the last confirmation, not a sample: set after a
  // change of leader, a check that got no answer, a reconnection or suspect().
  std::atomic<bool> suspect_all{false};
  // When a look at the stream last found it led (or a server without a cluster).
  std::atomic<std::chrono::steady_clock::time_point> led_at{std::chrono::steady_clock::now()};
  // The NATS servers' own versions, as each last said (read_nats_server_info): the servers
  // given and those the client discovered, read at start and every minute. Under
  // replication_mu; what was logged of each is the watchdog's.
  std::vector<nats_server_info> servers_seen;
  std::chrono::steady_clock::time_point servers_checked{};
  std::map<std::string, std::string> server_versions_logged;
  std::string leader_seen;        // the watchdog's
  std::uint64_t missing_seq = 0;  // the watchdog's: a message the leader lacks
  int missing_checks = 0;         // and for how many checks running
  std::thread watchdog;
  std::mutex watch_mu;
  std::condition_variable watch_cv;
  bool stopping = false;

  mutable std::mutex replication_mu;
  cluster_log::replication replication;  // under replication_mu
  std::chrono::steady_clock::time_point replication_checked{};
  std::chrono::steady_clock::time_point raise_logged{};

  mutable std::mutex names_mu;
  mutable std::map<std::string, std::string> server_names;  // URL -> the server it names

  // The server a URL names, as the lowest address its host resolves to and the port
  // ("nats://localhost:4222" and "nats://127.0.0.1:4222" are one server); the URL itself
  // when the host does not resolve. Cached.
  std::string server_of(const std::string& url) const {
    std::lock_guard lock(names_mu);
    if (auto it = server_names.find(url); it != server_names.end()) return it->second;
    std::string_view rest = url;
    if (auto scheme = rest.find("://"); scheme != std::string_view::npos)
      rest.remove_prefix(scheme + 3);
    if (auto at = rest.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
    auto colon = rest.rfind(':');
    std::string host(rest.substr(0, colon));
    std::string port =
        colon == std::string_view::npos ? "4222" : std::string(rest.substr(colon + 1));
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
    std::string name = url;
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (getaddrinfo(host.c_str(), nullptr, &hints, &found) == 0) {
      std::set<std::string> addresses;
      for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
        char text[INET6_ADDRSTRLEN] = {};
        const void* raw =
            a->ai_family == AF_INET
                ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr)
                : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr);
        if (inet_ntop(a->ai_family, raw, text, sizeof text) != nullptr) {
          // IPv4 first ("4" sorts before "6"), so that a name with both resolves as its
          // IPv4 address does.
          addresses.insert((a->ai_family == AF_INET ? "4 " : "6 ") + std::string(text));
        }
      }
      freeaddrinfo(found);
      if (!addresses.empty()) name = addresses.begin()->substr(2) + ":" + port;
    }
    server_names.emplace(url, name);
    return name;
  }

  // The servers of the cluster this client knows: those given and those the servers
  // advertise, each counted once however it is named; at least one.
  int known_servers() const {
    std::set<std::string> servers;
    char** urls = nullptr;
    int count = 0;
    if (natsConnection_GetServers(nc, &urls, &count) == NATS_OK) {
      for (int i = 0; i < count; ++i) {
        servers.insert(server_of(urls[i]));
        std::free(urls[i]);
      }
      std::free(static_cast<void*>(urls));
    }
    for (const auto& given : options.servers)
      servers.insert(server_of(given));
    return std::max<int>(1, static_cast<int>(servers.size()));
  }

  // The most servers the cluster has told this client of: a server that goes down leaves
  // the count it advertises, never the number of replicas wanted.
  mutable std::atomic<int> most_known{0};

  int most_known_servers() const {
    int now = known_servers();
    int seen = most_known.load();
    while (now > seen && !most_known.compare_exchange_weak(seen, now)) {
    }
    return std::max(now, seen);
  }

  // Waits (at most 2 s, and not past `deadline`) until the number of servers the cluster
  // advertises has held still for half a second.
  void settle_known_servers(std::chrono::steady_clock::time_point deadline) {
    using namespace std::chrono_literals;
    auto until = std::min(deadline, std::chrono::steady_clock::now() + 2s);
    int last = -1;
    auto since = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() < until) {
      int now = natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED ? most_known_servers() : -1;
      if (now != last) {
        last = now;
        since = std::chrono::steady_clock::now();
      } else if (now >= 0 && std::chrono::steady_clock::now() - since >= 500ms) {
        return;
      }
      nats_Sleep(50);
    }
  }

  int wanted_replicas() const {
    return options.replicas > 0 ? options.replicas : std::min(3, most_known_servers());
  }

  // Where the wanted number comes from, for messages.
  std::string replicas_basis() const {
    if (options.replicas > 0) {
      return std::to_string(options.replicas) + " asked for (--cluster-replicas)";
    }
    int known = most_known_servers();
    return std::to_string(std::min(3, known)) + " for the " + std::to_string(known) + " server" +
           (known == 1 ? "" : "s") + " the cluster advertises";
  }

  static void on_message(natsConnection*, natsSubscription*, natsMsg* m, void* closure) {
    auto* self = static_cast<impl*>(closure);
    self->last_delivery = std::chrono::steady_clock::now();
    std::lock_guard lock(self->deliver_mu);
    std::uint64_t seq = stream_seq_of(m);
    if (self->halted_flag.load() || (seq != 0 && seq < self->next_seq)) {
      release(m);  // halted, or delivered before a resubscription
      return;
    }
    // The stream has every sequence number (it denies deletes and has no limits), so a
    // message past the next one means the server the follower reads from lacks some (a
    // replica catching up after a partition): the missing ones are read from the stream's
    // leader, or the follower reads again from the next one a moment later. Never skipped.
    if (self->refollow.load() || (seq > self->next_seq && !self->fill_gap(seq)) ||
        self->halted_flag.load()) {
      release(m);
      return;
    }
    self->deliver(m, seq);
  }

  static std::uint64_t print_of(natsMsg* m) {
    std::hash<std::string_view> h;
    return h(natsMsg_GetSubject(m)) * 0x9E3779B97F4A7C15ULL ^ h(payload_of(m));
  }

  // Under deliver_mu: passes the message at `seq` (next_seq) on, or halts there when it
  // does not decode; destroys it.
  void deliver(natsMsg* m, std::uint64_t seq) {
    std::uint64_t print = print_of(m);
    auto w = message_from(m);
    release(m);
    if (!w) {
      halt(seq, halt_reason(seq, w.err(), false));
      return;
    }
    if (seq != 0) next_seq = seq + 1;
    if (unconfirmed.size() >= k_unconfirmed_kept) {
      unconfirmed.erase(unconfirmed.begin(),
                        unconfirmed.begin() + static_cast<std::ptrdiff_t>(k_unconfirmed_kept / 2));
    }
    unconfirmed.push_back({seq, print});
    on_write(std::move(w));
  }

  // Why the follower stops at message `seq` that failed with `e`: a newer release's
  // encoding, or one that cannot be read (`decoded` false) or applied.
  static std::string halt_reason(std::uint64_t seq, const domain::error& e, bool decoded) {
    std::string n = std::to_string(seq);
    if (newer_release(e)) {
      return "a newer release wrote message " + n + " of the stream: upgrade this node (" +
             e.message + ")";
    }
    return decoded ? "cannot apply message " + n + " of the stream: " + e.message
                   : "message " + n + " of the stream cannot be read: " + e.message;
  }

  static bool newer_release(const domain::error& e) {
    return e.code == domain::errc::store_corrupted &&
           e.message.find(k_newer_release) != std::string::npos;
  }

  // A node whose follower halted takes no write: it would decide it on a copy that no
  // longer follows the stream.
  domain::status refuse_if_halted() const {
    if (!halted_flag.load()) return {};
    std::lock_guard lock(halt_mu);
    return domain::make_error(domain::errc::unavailable,
                              "this node stopped applying the cluster's stream: " + halted_why);
  }

  // Any thread (also from within on_write): nothing is passed on after this.
  // True for the call that halted it.
  bool halt(std::uint64_t seq, const std::string& why) {
    {
      std::lock_guard lock(halt_mu);
      if (halted_flag.load()) return false;
      halted_why = why;
      halted_flag = true;
    }
    infra::log(infra::log_level::error, "stopped applying the cluster's stream at message " +
                                            std::to_string(seq) + ": " + why);
    return true;
  }

  // The watchdog's, every second: confirms what the follower applied against the stream's
  // leader (cluster_log::follow()).
  void confirm() {
    using namespace std::chrono_literals;
    if (halted_flag.load()) return;
    jsOptions o = js_options(2000ms);
    jsErrCode code = jsErrCode(0);
    jsStreamInfo* si = nullptr;
    if (js_GetStreamInfo(&si, js, options.stream.c_str(), &o, &code) != NATS_OK) {
      suspect_all = true;
      return;
    }
    std::string leader =
        si->Cluster != nullptr && si->Cluster->Leader != nullptr ? si->Cluster->Leader : "";
    if (si->Cluster == nullptr || !leader.empty()) led_at = std::chrono::steady_clock::now();
    jsStreamInfo_Destroy(si);
    if (leader != leader_seen) {
      if (!leader_seen.empty()) suspect_all = true;
      leader_seen = leader;
    }
    std::vector<applied_mark> marks;
    applied_mark before;
    {
      std::lock_guard lock(deliver_mu);
      marks = unconfirmed;
      before = confirmed;
    }
    bool all = suspect_all.exchange(false);
    if (marks.empty() && !all) return;
    std::vector<applied_mark> check;
    if (before.seq != 0) check.push_back(before);
    if (all || marks.size() <= 8) {
      check.insert(check.end(), marks.begin(), marks.end());
    } else {
      for (std::size_t i = 1; i <= 7; ++i)
        check.push_back(marks[i * marks.size() / 8 - 1]);
      check.push_back(marks.back());
    }
    for (const auto& mark : check) {
      natsMsg* got = nullptr;
      code = jsErrCode(0);
      natsStatus s = js_GetMsg(&got, js, options.stream.c_str(), mark.seq, &o, &code);
      if (s == NATS_OK) {
        std::uint64_t print = print_of(got);
        release(got);
        if (print != mark.print) {
          return diverge(mark.seq, "the message the stream's leader has there is another");
        }
        continue;
      }
      if (all) suspect_all = true;  // not confirmed yet: again at the next check
      if (code != JSNoMessageFoundErr) return;
      // A leader just elected may not have stored its last messages yet: only a message
      // it lacks for three checks running was never the stream's.
      if (missing_seq != mark.seq) {
        missing_seq = mark.seq;
        missing_checks = 0;
      }
      if (++missing_checks >= 3) return diverge(mark.seq, "the stream's leader does not have it");
      return;
    }
    missing_seq = 0;
    missing_checks = 0;
    if (marks.empty()) return;
    std::lock_guard lock(deliver_mu);
    auto upto = marks.back().seq;
    unconfirmed.erase(unconfirmed.begin(),
                      std::find_if(unconfirmed.begin(), unconfirmed.end(),
                                   [&](const applied_mark& m) { return m.seq > upto; }));
    confirmed = marks.back();
  }

  void diverge(std::uint64_t seq, const std::string& why) {
    bool now = halt(seq, "this node applied message " + std::to_string(seq) +
                             " of the stream, but " + why +
                             ": its copy differs from the stream (a replica served writes the "
                             "stream never held) and must be filled again");
    if (now && on_diverged) on_diverged(seq);
  }

  // Under deliver_mu: delivers the messages from next_seq to before `seq` read one by one
  // from the stream's leader; false (and the follower subscribes again soon) when one
  // cannot be read now. `why` says why the follower lacks them (logged).
  bool fill_gap(std::uint64_t seq,
                std::string_view why = "did not reach this node's follower in order") {
    using namespace std::chrono_literals;
    infra::log(infra::log_level::warn, "the stream's messages " + std::to_string(next_seq) + ".." +
                                           std::to_string(seq - 1) + " " + std::string(why) +
                                           "; reading them from the stream's leader");
    constexpr std::uint64_t k_most = 1000;
    if (seq - next_seq > k_most) return refollow_soon();
    jsOptions o = js_options(2000ms);
    while (next_seq < seq) {
      natsMsg* missing = nullptr;
      jsErrCode code = jsErrCode(0);
      if (js_GetMsg(&missing, js, options.stream.c_str(), next_seq, &o, &code) != NATS_OK) {
        return refollow_soon();
      }
      deliver(missing, next_seq);
      if (halted_flag.load()) return false;
    }
    suspect_all = true;  // the server the follower reads from lagged: confirm what it served
    return true;
  }

  // Asks the watchdog to subscribe again from next_seq (after a short pause, so that the
  // server it reads from can catch up); always false.
  bool refollow_soon() {
    refollow = true;
    watch_cv.notify_all();
    return false;
  }

  // Under follow_mu.
  domain::status subscribe() {
    std::uint64_t from = 0;
    {
      std::lock_guard lock(deliver_mu);
      from = next_seq;
    }
    jsOptions o = js_options();
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = options.stream.c_str();
    so.Ordered = true;
    // Heartbeats every second: the client notices a consumer gone with its server soon.
    so.Config.Heartbeat = 1'000'000'000;
    so.Config.DeliverPolicy = from <= 1 ? js_DeliverAll : js_DeliverByStartSequence;
    so.Config.OptStartSeq = from <= 1 ? 0 : from;
    jsErrCode code = jsErrCode(0);
    natsSubscription* fresh = nullptr;
    natsStatus s = js_Subscribe(&fresh, js, "referrald.>", &impl::on_message, this, &o, &so, &code);
    if (s != NATS_OK) return nats_error("following the stream", s, code);
    if (sub != nullptr) {
      natsSubscription_Unsubscribe(sub);
      natsSubscription_Destroy(sub);
    }
    sub = fresh;
    return {};
  }

  void watch() {
    using namespace std::chrono_literals;
    std::unique_lock lock(watch_mu);
    while (!stopping) {
      watch_cv.wait_for(lock, 1s, [&] { return stopping || refollow.load(); });
      if (stopping) break;
      lock.unlock();
      // A halted follower stays where it stopped: nothing is confirmed or followed again.
      bool halted = halted_flag.load();
      if (!halted) confirm();
      if (!halted && refollow.load()) {
        // A gap the leader could not fill: from the next message again, in a moment (a
        // new consumer, placed on a server of the stream anew).
        std::this_thread::sleep_for(250ms);
        std::lock_guard follow(follow_mu);
        if (sub != nullptr) {
          natsSubscription_Unsubscribe(sub);
          natsSubscription_Destroy(sub);
          sub = nullptr;
        }
        refollow = false;
        if (!subscribe()) refollow = true;
      }
      if (std::chrono::steady_clock::now() - servers_checked >= 60s) check_servers();
      // What it saw, and what it could not raise, are kept and logged by the check itself.
      if (std::chrono::steady_clock::now() - replication_checked >= 5s) {
        (void)check_replication();
      }
      if (!halted && std::chrono::steady_clock::now() - last_delivery.load() >= 2s) {
        resubscribe_if_behind();
      }
      lock.lock();
    }
  }

  // The follower had nothing for a while: when the stream's leader holds messages it has
  // not had, the server its consumer reads from lags (a replica that has not caught up
  // after an election or a partition, or a consumer lost with its server). Those messages
  // are read from the leader itself (at most 1000 at a time) and the follower subscribes
  // again from the next one, so that a lagging replica never holds the node back.
  void resubscribe_if_behind() {
    jsOptions o = js_options(std::chrono::milliseconds(2000));
    jsErrCode code = jsErrCode(0);
    jsStreamInfo* si = nullptr;
    if (js_GetStreamInfo(&si, js, options.stream.c_str(), &o, &code) != NATS_OK) return;
    std::uint64_t last = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    {
      std::lock_guard lock(deliver_mu);
      if (last < next_seq) {
        last_delivery = std::chrono::steady_clock::now();  // nothing missed
        return;
      }
      if (!halted_flag.load() && !refollow.load()) {
        (void)fill_gap(std::min(last, next_seq + 999) + 1,
                       "are stored in the stream but its follower has not had them for 2 s");
      }
    }
    std::lock_guard lock(follow_mu);
    if (subscribe()) last_delivery = std::chrono::steady_clock::now();
  }

  // Reads the version of every NATS server given or discovered (one at a time, half a
  // second each at most), keeps them for nats_servers(), and logs each server's version
  // when first seen or changed: a warning for one older than k_nats_recommended.
  void check_servers() {
    servers_checked = std::chrono::steady_clock::now();
    std::vector<std::string> urls = options.servers;
    char** discovered = nullptr;
    int count = 0;
    if (natsConnection_GetDiscoveredServers(nc, &discovered, &count) == NATS_OK) {
      for (int i = 0; i < count; ++i) {
        if (std::find(urls.begin(), urls.end(), discovered[i]) == urls.end())
          urls.emplace_back(discovered[i]);
        free(discovered[i]);
      }
      free(discovered);
    }
    std::vector<nats_server_info> seen;
    for (const auto& url : urls) {
      auto info = read_nats_server_info(url, std::chrono::milliseconds(500));
      if (!info) continue;
      bool known = std::any_of(seen.begin(), seen.end(), [&](const nats_server_info& s) {
        return !info->name.empty() ? s.name == info->name : s.address == info->address;
      });
      if (!known) seen.push_back(std::move(*info));
    }
    for (const auto& server : seen) {
      std::string who = server.name.empty() ? server.address : server.name;
      auto& logged = server_versions_logged[who];
      if (logged == server.version) continue;
      logged = server.version;
      const auto* r = k_nats_recommended;
      if (nats_version_at_least(server.version, r[0], r[1], r[2])) {
        infra::log(infra::log_level::info, "NATS server " + who + " (" + server.address +
                                               ") runs nats-server " + server.version);
      } else {
        infra::log(infra::log_level::warn, old_server_warning(server));
      }
    }
    std::lock_guard lock(replication_mu);
    servers_seen = std::move(seen);
  }

  static std::string old_server_warning(const nats_server_info& server) {
    const auto* r = k_nats_recommended;
    return "NATS server " + (server.name.empty() ? server.address : server.name) + " (" +
           server.address + ") runs nats-server " + server.version + ", older than " +
           std::to_string(r[0]) + "." + std::to_string(r[1]) + "." + std::to_string(r[2]) +
           ": a stream leader cut off from the others may keep writes it never replicated, "
           "and nodes then fill a new copy (docs/cluster.md, \"NATS server versions\")";
  }

  // Raises the stream's replicas to `wanted` (the rest of its configuration kept). An
  // error naming both numbers when the cluster cannot place them.
  domain::status raise_replicas(const jsStreamConfig& current, int wanted) {
    jsStreamConfig cfg = current;
    cfg.Replicas = wanted;
    jsOptions o = js_options();
    jsErrCode code = jsErrCode(0);
    jsStreamInfo* si = nullptr;
    natsStatus s = js_UpdateStream(&si, js, &cfg, &o, &code);
    if (s == NATS_OK) {
      jsStreamInfo_Destroy(si);
      return {};
    }
    auto e = nats_error("raising the stream's replicas", s, code);
    std::string why = "the stream " + std::string(current.Name != nullptr ? current.Name : "?") +
                      " has " + std::to_string(current.Replicas) + " replica" +
                      (current.Replicas == 1 ? "" : "s") + ", fewer than the " +
                      std::to_string(wanted) + " wanted (" + replicas_basis() +
                      "), and the cluster cannot hold more now: " + e.message;
    if (code == JSClusterNoPeersErr || code == JSInsufficientResourcesErr ||
        code == JSStreamReplicasNotSupportedErr) {
      return domain::make_error(domain::errc::validation_failed, why);
    }
    return domain::make_error(e.code, why);
  }

  // Looks at the stream's replication, raises its replicas when fewer than wanted and this
  // client is a writer, and keeps what it saw for replication_status().
  domain::status check_replication(bool* raised_now = nullptr) {
    replication_checked = std::chrono::steady_clock::now();
    jsOptions o = js_options(std::chrono::milliseconds(2000));
    jsErrCode code = jsErrCode(0);
    jsStreamInfo* si = nullptr;
    natsStatus s = js_GetStreamInfo(&si, js, options.stream.c_str(), &o, &code);
    if (s != NATS_OK) return nats_error("reading the stream's replication", s, code);
    cluster_log::replication r;
    r.known = true;
    r.wanted = wanted_replicas();
    r.replicas = si->Config != nullptr ? static_cast<int>(si->Config->Replicas) : 0;
    domain::status raised;
    if (options.create && si->Config != nullptr && r.replicas < r.wanted) {
      raised = raise_replicas(*si->Config, r.wanted);
      auto now = std::chrono::steady_clock::now();
      if (raised) {
        if (raised_now != nullptr) *raised_now = true;
        infra::log(infra::log_level::warn, "raised the replicas of the stream " + options.stream +
                                               " from " + std::to_string(r.replicas) + " to " +
                                               std::to_string(r.wanted));
      } else if (now - raise_logged >= std::chrono::minutes(1)) {
        raise_logged = now;
        infra::log(infra::log_level::warn, raised.err().message);
      }
    }
    if (si->Cluster != nullptr) {
      bool led = si->Cluster->Leader != nullptr && si->Cluster->Leader[0] != '\0';
      if (led) led_at = std::chrono::steady_clock::now();
      r.current = led ? 1 : 0;
      if (!led) r.problems.emplace_back("the stream has no leader");
      for (int i = 0; i < si->Cluster->ReplicasLen; ++i) {
        const jsPeerInfo* p = si->Cluster->Replicas[i];
        std::string name = p->Name != nullptr ? p->Name : "?";
        if (p->Offline) {
          r.problems.push_back("replica " + name + " is offline");
        } else if (!p->Current) {
          r.problems.push_back("replica " + name + " is lagging (" + std::to_string(p->Lag) +
                               " operations behind)");
        } else {
          ++r.current;
        }
      }
    } else {
      r.current = 1;  // a server without a cluster: the one replica is the server itself
    }
    jsStreamInfo_Destroy(si);
    if (r.replicas < r.wanted) {
      r.problems.insert(r.problems.begin(),
                        "the stream is under-replicated: " + std::to_string(r.replicas) +
                            " replica" + (r.replicas == 1 ? "" : "s") + ", " +
                            std::to_string(r.wanted) + " wanted");
    }
    {
      std::lock_guard lock(replication_mu);
      replication = std::move(r);
    }
    return raised;
  }

  ~impl() {
    {
      std::lock_guard lock(watch_mu);
      stopping = true;
    }
    watch_cv.notify_all();
    if (watchdog.joinable()) watchdog.join();
    if (js_async != nullptr) {
      // Every append in flight is acknowledged or given up (MaxWait) first.
      jsPubOptions po;
      jsPubOptions_Init(&po);
      po.MaxWait = options.publish_timeout.count() + 1000;
      js_PublishAsyncComplete(js_async, &po);
    }
    {
      std::lock_guard lock(resolve_mu);
      resolve_stopping = true;
    }
    resolve_cv.notify_all();
    if (resolver.joinable()) resolver.join();
    {
      std::lock_guard lock(async_mu);
      for (auto& [id, a] : async_waiting)
        a.done(domain::make_error(domain::errc::unavailable, "the cluster log is closing"));
      async_waiting.clear();
    }
    if (js_async != nullptr) jsCtx_Destroy(js_async);
    if (sub != nullptr) {
      natsSubscription_Unsubscribe(sub);
      natsSubscription_Destroy(sub);
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
  }

  jsOptions js_options(std::chrono::milliseconds wait) const {
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = wait.count();
    return o;
  }
  jsOptions js_options() const { return js_options(options.timeout); }

  // The subject's last message in `stream` (the events stream when empty; null when it
  // has none); the caller destroys it.
  domain::result<natsMsg*> last_message(const std::string& subject,
                                        const std::string& stream = {}) {
    natsMsg* m = nullptr;
    jsOptions o = js_options();
    jsErrCode code = jsErrCode(0);
    const std::string& name = stream.empty() ? options.stream : stream;
    natsStatus s = js_GetLastMsg(&m, js, name.c_str(), subject.c_str(), &o, &code);
    if (s == NATS_NOT_FOUND || code == JSNoMessageFoundErr) return static_cast<natsMsg*>(nullptr);
    if (s != NATS_OK) return nats_error("reading the last message of " + subject, s, code);
    return m;
  }

  // After a failed expectation: the subject's last message's sequence when it is one `ours`
  // recognizes (an earlier attempt of this write stored it), else beaten with `lost`; the
  // read's error when the stream cannot say (no leader yet), never beaten for that.
  domain::result<std::uint64_t> last_is_ours(const std::string& stream, const std::string& subject,
                                             const std::function<bool(natsMsg*)>& ours,
                                             const std::string& lost) {
    auto last = last_message(subject, stream);
    if (!last) return std::move(last).err();
    if (*last != nullptr) {
      bool mine = ours(*last);
      std::uint64_t seq = stream_seq_of(*last);
      release(*last);
      if (mine) return seq;
    }
    return domain::make_error(domain::errc::beaten, lost);
  }

  // Whether the message of `stream` at `seq` (or the subject's last message when `seq` is
  // 0) is one `ours` recognizes; false when there is none.
  domain::result<bool> stored_is(const std::string& stream, const std::string& subject,
                                 std::uint64_t seq, const std::function<bool(natsMsg*)>& ours) {
    natsMsg* m = nullptr;
    if (seq == 0) {
      auto last = last_message(subject, stream);
      if (!last) return std::move(last).err();
      m = *last;
    } else {
      jsOptions o = js_options();
      jsErrCode code = jsErrCode(0);
      natsStatus s = js_GetMsg(&m, js, stream.c_str(), seq, &o, &code);
      if (s == NATS_NOT_FOUND || code == JSNoMessageFoundErr)
        m = nullptr;
      else if (s != NATS_OK)
        return nats_error("reading a write", s, code);
    }
    if (m == nullptr) return false;
    bool mine = ours(m);
    release(m);
    return mine;
  }

  // A recognizer of the events stream's messages written by the attempt `writer`.
  static std::function<bool(natsMsg*)> written_by(const std::string& writer) {
    return [writer](natsMsg* m) {
      auto w = writer_of(m);
      return w && *w == writer;
    };
  }

  // Publishes `payload` on `subject` of `stream` with the id `msg_id`, expecting the
  // subject's last message at `expected` when set (0: none). `ours` tells this attempt's
  // message from another's (a retry of an attempt whose acknowledgement was lost is stored
  // once); `lost` is the conflict's message.
  domain::result<std::uint64_t> publish(const std::string& stream, const std::string& subject,
                                        const std::string& payload, const std::string& msg_id,
                                        std::optional<std::uint64_t> expected,
                                        const std::function<bool(natsMsg*)>& ours,
                                        const std::string& lost) {
    natsMsg* m = nullptr;
    natsStatus s = natsMsg_Create(&m, subject.c_str(), nullptr, payload.data(),
                                  static_cast<int>(payload.size()));
    if (s != NATS_OK) return nats_error("preparing a write", s);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = attempt_wait(options.publish_timeout, options.publish_timeout);
    po.MsgId = msg_id.c_str();
    po.ExpectStream = stream.c_str();
    if (expected && *expected == 0) {
      po.ExpectNoMessage = true;
    } else if (expected) {
      po.ExpectLastSubjectSeq = *expected;
    }
    jsPubAck* ack = nullptr;
    jsErrCode code = jsErrCode(0);
    // While the stream has no leader, or an attempt goes unanswered, published again within
    // the publish timeout.
    auto until = std::chrono::steady_clock::now() + options.publish_timeout;
    bool in_flight = false;
    for (int attempts = 0;; ++attempts) {
      code = jsErrCode(0);
      s = js_PublishMsg(&ack, js, m, &po, &code);
      in_flight = s == NATS_OK && undecided(ack);
      if (in_flight) {
        jsPubAck_Destroy(ack);
        ack = nullptr;
      } else if (s == NATS_OK || !worth_again(s, code)) {
        break;
      }
      auto delay = s == NATS_TIMEOUT ? std::chrono::milliseconds(0) : retry_delay(attempts);
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left <= delay) break;
      std::this_thread::sleep_for(delay);
      po.MaxWait = attempt_wait(left - delay, options.publish_timeout);
    }
    release(m);
    if (in_flight) return undecided_error();
    if (s != NATS_OK) {
      if (code == JSStreamWrongLastSequenceErr) {
        // This very write may be what came first: an earlier attempt stored it and its
        // acknowledgement was lost (a retry is checked against the expectation before the
        // stream looks for a duplicate).
        return last_is_ours(stream, subject, ours, lost);
      }
      if (code == JSStreamMessageExceedsMaximumErr) {
        return domain::make_error(domain::errc::payload_too_large,
                                  "the write is larger than the cluster's 8 MiB message limit");
      }
      return nats_error("appending a write", s, code);
    }
    std::uint64_t seq = ack->Sequence;
    bool duplicate = ack->Duplicate;
    jsPubAck_Destroy(ack);
    if (!duplicate) return seq;
    // The id was claimed before: by this very attempt (its acknowledgement lost), or by
    // another node's write, which came first.
    auto stored = stored_is(stream, subject, seq, ours);
    if (!stored) return std::move(stored).err();
    if (*stored) return seq;
    return domain::make_error(domain::errc::beaten, lost);
  }

  void run_resolver() {
    std::unique_lock lock(resolve_mu);
    for (;;) {
      if (!resolve_jobs.empty()) {
        auto job = std::move(resolve_jobs.front());
        resolve_jobs.pop_front();
        lock.unlock();
        job();
        lock.lock();
        continue;
      }
      if (!resolve_delayed.empty() && (resolve_stopping || resolve_delayed.begin()->first <=
                                                               std::chrono::steady_clock::now())) {
        auto job = std::move(resolve_delayed.begin()->second);
        resolve_delayed.erase(resolve_delayed.begin());
        bool closing = resolve_stopping;
        lock.unlock();
        job(closing);
        lock.lock();
        continue;
      }
      if (resolve_stopping) return;
      if (resolve_delayed.empty()) {
        resolve_cv.wait(lock);
      } else {
        resolve_cv.wait_until(lock, resolve_delayed.begin()->first);
      }
    }
  }

  void resolve_after(std::chrono::milliseconds delay, std::function<void(bool closing)> job) {
    {
      std::lock_guard lock(resolve_mu);
      resolve_delayed.emplace(std::chrono::steady_clock::now() + delay, std::move(job));
    }
    resolve_cv.notify_one();
  }

  // Publishes `a` without waiting: its outcome comes to on_ack (or at once, to a.done, when
  // the client refuses it). Not on the client's acknowledgement thread.
  void publish_async(async_append a) {
    natsMsg* m = nullptr;
    natsStatus s = natsMsg_Create(&m, a.subject.c_str(), nullptr, a.payload.data(),
                                  static_cast<int>(a.payload.size()));
    if (s != NATS_OK) return a.done(nats_error("preparing a write", s));
    std::string id = a.id;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = attempt_wait(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  a.until - std::chrono::steady_clock::now()),
                              options.publish_timeout);
    po.MsgId = id.c_str();
    po.ExpectStream = options.stream.c_str();
    if (a.expected == 0) {
      po.ExpectNoMessage = true;
    } else {
      po.ExpectLastSubjectSeq = a.expected;
    }
    {
      std::lock_guard lock(async_mu);
      async_waiting[id] = std::move(a);
    }
    {
      std::lock_guard lock(publish_mu);
      s = js_PublishMsgAsync(js_async, &m, &po);
      if (s == NATS_OK) return;
      if (m != nullptr) release(m);
    }
    std::function<void(domain::result<std::uint64_t>)> failed;
    {
      std::lock_guard lock(async_mu);
      auto it = async_waiting.find(id);
      if (it == async_waiting.end()) return;  // already answered by the handler
      failed = std::move(it->second.done);
      async_waiting.erase(it);
    }
    failed(nats_error("appending a write", s));
  }

  void resolve_later(std::function<void()> job) {
    {
      std::lock_guard lock(resolve_mu);
      resolve_jobs.push_back(std::move(job));
    }
    resolve_cv.notify_one();
  }

  // The acknowledgement (or failure) of an asynchronous append, on the client's thread:
  // decided at once when it can be, else by the resolver, as publish() decides.
  static void on_ack(jsCtx*, natsMsg* m, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
    auto* self = static_cast<impl*>(closure);
    const char* id = nullptr;
    std::string key;
    {
      // The client may call this (the message's MaxWait passed) while js_PublishMsgAsync is
      // still sending the same message on another thread: it is read and destroyed only once
      // that call returned.
      std::lock_guard lock(self->publish_mu);
      if (natsMsgHeader_Get(m, "Nats-Msg-Id", &id) == NATS_OK && id != nullptr) key = id;
      release(m);
    }
    async_append a;
    {
      std::lock_guard lock(self->async_mu);
      auto it = self->async_waiting.find(key);
      if (it == self->async_waiting.end()) return;
      a = std::move(it->second);
      self->async_waiting.erase(it);
    }
    if (pa != nullptr && !pa->Duplicate) return a.done(pa->Sequence);
    if (undecided(pa)) {
      if (std::chrono::steady_clock::now() >= a.until) return a.done(undecided_error());
      // Published again (same id, same expectation) until the first message with the id
      // is decided, within the write's publish timeout.
      auto delay = retry_delay(a.attempts++);
      return self->resolve_after(delay, [self, a = std::move(a)](bool closing) mutable {
        if (closing) return a.done(undecided_error());
        self->publish_async(std::move(a));
      });
    }
    if (pa != nullptr) {
      // The id was claimed before: by this very attempt, or by another node's write.
      std::uint64_t seq = pa->Sequence;
      return self->resolve_later([self, a = std::move(a), seq] {
        auto stored = self->stored_is(self->options.stream, a.subject, seq, written_by(a.writer));
        if (!stored) return a.done(std::move(stored).err());
        if (*stored) return a.done(seq);
        a.done(domain::make_error(domain::errc::beaten, a.lost));
      });
    }
    jsErrCode code = pae != nullptr ? pae->ErrCode : jsErrCode(0);
    natsStatus s = pae != nullptr ? pae->Err : NATS_ERR;
    if (worth_again(s, code) && std::chrono::steady_clock::now() < a.until) {
      // Published again (same id, same expectation: stored at most once, see worth_again)
      // once the stream has elected its leader, within the write's publish timeout.
      auto delay = s == NATS_TIMEOUT ? std::chrono::milliseconds(0) : retry_delay(a.attempts++);
      return self->resolve_after(delay, [self, a = std::move(a), s, code](bool closing) mutable {
        if (closing) return a.done(nats_error("appending a write", s, code));
        self->publish_async(std::move(a));
      });
    }
    if (code == JSStreamWrongLastSequenceErr) {
      return self->resolve_later([self, a = std::move(a)] {
        a.done(self->last_is_ours(self->options.stream, a.subject, written_by(a.writer), a.lost));
      });
    }
    if (code == JSStreamMessageExceedsMaximumErr) {
      return a.done(
          domain::make_error(domain::errc::payload_too_large,
                             "the write is larger than the cluster's 8 MiB message limit"));
    }
    a.done(nats_error("appending a write", s, code));
  }

  // A stream of ours on `subjects` (one pattern; both must outlive the config): file
  // storage, the replicas wanted, deletes and purges denied, messages up to 8 MiB.
  jsStreamConfig stream_config(const std::string& name, const char* (&subjects)[1]) {
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = name.c_str();
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = wanted_replicas();
    cfg.DenyDelete = true;
    cfg.DenyPurge = true;
    cfg.MaxMsgSize = k_max_message_bytes;
    return cfg;
  }

  std::string claims_stream() const { return options.stream + std::string(k_claims_suffix); }

  // The Idempotency-Key stream (cluster_log::last_claim): made when missing, with the
  // replicas wanted, raised when it has fewer.
  domain::status ensure_claims_stream() {
    std::string name = claims_stream();
    jsOptions o = js_options();
    jsErrCode code = jsErrCode(0);
    jsStreamInfo* si = nullptr;
    natsStatus s = js_GetStreamInfo(&si, js, name.c_str(), &o, &code);
    if (s == NATS_OK) {
      domain::status raised;
      int wanted = wanted_replicas();
      if (si->Config != nullptr && si->Config->Replicas < wanted) {
        raised = raise_replicas(*si->Config, wanted);
      }
      jsStreamInfo_Destroy(si);
      return raised;
    }
    if (s != NATS_NOT_FOUND && code != JSStreamNotFoundErr) {
      return nats_error("reading the Idempotency-Key stream", s, code);
    }
    std::string subjects_pattern = std::string(k_claims_prefix) + ">";
    const char* subjects[] = {subjects_pattern.c_str()};
    jsStreamConfig cfg = stream_config(name, subjects);
    cfg.MaxAge = k_claims_max_age_ns;
    code = jsErrCode(0);
    s = js_AddStream(&si, js, &cfg, &o, &code);
    if (s == NATS_OK) {
      jsStreamInfo_Destroy(si);
      return {};
    }
    // Made by another node at the same moment.
    if (js_GetStreamInfo(&si, js, name.c_str(), &o, nullptr) == NATS_OK) {
      jsStreamInfo_Destroy(si);
      return {};
    }
    return nats_error("creating the Idempotency-Key stream", s, code);
  }

  // One attempt, waiting at most `wait` for each answer: ok once the stream exists and
  // has a leader to take writes.
  domain::status ensure_stream(std::chrono::milliseconds wait) {
    jsOptions o = js_options(wait);
    jsErrCode code = jsErrCode(0);
    jsStreamInfo* si = nullptr;
    natsStatus s = js_GetStreamInfo(&si, js, options.stream.c_str(), &o, &code);
    if (s == NATS_OK) {
      bool led = si->Cluster == nullptr ||
                 (si->Cluster->Leader != nullptr && si->Cluster->Leader[0] != '\0');
      jsStreamInfo_Destroy(si);
      if (led) return {};
      return domain::make_error(domain::errc::unavailable,
                                "the cluster's event stream has no leader yet");
    }
    if (s != NATS_NOT_FOUND && code != JSStreamNotFoundErr) {
      return nats_error("reading the stream's configuration", s, code);
    }
    if (!options.create) {
      return domain::make_error(
          domain::errc::not_found,
          "the cluster has no stream " + options.stream + " (no referrald node has run on it yet)");
    }
    const char* subjects[] = {"referrald.>"};
    jsStreamConfig cfg = stream_config(options.stream, subjects);
    code = jsErrCode(0);
    s = js_AddStream(&si, js, &cfg, &o, &code);
    if (s == NATS_OK) jsStreamInfo_Destroy(si);
    // Made here or by another node at the same moment: the next attempt checks it has a
    // leader.
    if (s == NATS_OK || js_GetStreamInfo(&si, js, options.stream.c_str(), &o, nullptr) == NATS_OK) {
      if (s != NATS_OK) jsStreamInfo_Destroy(si);
      return domain::make_error(domain::errc::unavailable, "the stream was just created");
    }
    auto e = nats_error("creating the stream", s, code);
    if (code == JSStreamReplicasNotSupportedErr || code == JSClusterNoPeersErr ||
        code == JSInsufficientResourcesErr) {
      // A server outside any cluster never holds more than one replica; a cluster whose
      // servers are still starting may soon (retried until the start wait is over).
      e.message = "the cluster cannot hold a stream of " + std::to_string(cfg.Replicas) +
                  " replicas (" + replicas_basis() + "): " + e.message;
      if (code == JSStreamReplicasNotSupportedErr) e.code = domain::errc::validation_failed;
    }
    return e;
  }
};

cluster_log::cluster_log(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

natsConnection* cluster_native::connection(cluster_log& log) { return log.impl_->nc; }
jsCtx* cluster_native::jetstream(cluster_log& log) { return log.impl_->js; }
const cluster_options& cluster_native::options(cluster_log& log) { return log.impl_->options; }

namespace {

struct released_messages {
  static constexpr std::size_t k_group = 16;
  std::array<natsMsg*, k_group> kept{};
  std::size_t count = 0;

  void flush() {
    for (std::size_t i = 0; i < count; ++i)
      natsMsg_Destroy(kept[i]);
    count = 0;
  }
  ~released_messages() { flush(); }
};

}  // namespace

void release(natsMsg* m) {
  if (m == nullptr) return;
  thread_local released_messages group;
  group.kept[group.count++] = m;
  if (group.count == released_messages::k_group) group.flush();
}

cluster_log::~cluster_log() = default;

domain::result<std::unique_ptr<cluster_log>> cluster_log::open(const cluster_options& o) {
  if (o.servers.empty()) {
    return domain::make_error(domain::errc::validation_failed, "no cluster server given");
  }
  auto p = std::make_unique<impl>();
  p->options = o;
  {
    std::uint64_t nonce = 0;
    auto d = domain::sha256(
        o.node_name + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) +
        std::to_string(reinterpret_cast<std::uintptr_t>(p.get())));
    std::memcpy(&nonce, d.data(), sizeof nonce);
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(nonce));
    p->writer_prefix = o.node_name + "/" + hex + "/";
  }
  std::vector<const char*> urls;
  for (const auto& s : o.servers)
    urls.push_back(s.c_str());
  // The client library, once per process: its locks spin at most a few times before
  // sleeping (its default spins 2000 times, which on a machine of few cores takes the CPU
  // from the threads that would release them).
  static const natsStatus opened = nats_Open(1);
  if (opened != NATS_OK) return nats_error("starting the NATS client", opened);
  natsStatus s = natsOptions_Create(&p->opts);
  if (s == NATS_OK) {
    s = natsOptions_SetServers(p->opts, urls.data(), static_cast<int>(urls.size()));
  }
  if (s == NATS_OK && !o.node_name.empty()) s = natsOptions_SetName(p->opts, o.node_name.c_str());
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(p->opts, -1);  // never give up
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(p->opts, 250);
  if (s == NATS_OK) s = natsOptions_SetTimeout(p->opts, o.timeout.count());
  if (s == NATS_OK) s = natsOptions_SetPingInterval(p->opts, o.ping_interval.count());
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(p->opts, o.max_pings_out);
  // A publish is written to the socket by the thread that makes it, instead of waking the
  // client's flusher thread for each one: a write is one message, and a hand-off per write
  // costs more than the system call on a machine of few cores.
  if (s == NATS_OK) s = natsOptions_SetSendAsap(p->opts, true);
  // After a lost link, what the follower applied meanwhile is confirmed in full.
  if (s == NATS_OK) {
    s = natsOptions_SetReconnectedCB(
        p->opts,
        [](natsConnection*, void* closure) { static_cast<impl*>(closure)->suspect_all = true; },
        p.get());
  }
  // With a callback, connecting returns at once while no server answers (without one it
  // would block until one does); the stream set-up below bounds the wait by the timeout.
  if (s == NATS_OK) {
    s = natsOptions_SetRetryOnFailedConnect(
        p->opts, true, [](natsConnection*, void*) {}, nullptr);
  }
  if (s != NATS_OK) return nats_error("configuring the connection", s);
  s = natsConnection_Connect(&p->nc, p->opts);
  if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) return nats_error("connecting", s);
  jsOptions jo = p->js_options();
  s = natsConnection_JetStream(&p->js, p->nc, &jo);
  if (s != NATS_OK) return nats_error("opening JetStream", s);
  jsOptions ja = p->js_options();
  ja.PublishAsync.MaxPending = 4096;
  ja.PublishAsync.AckHandler = &impl::on_ack;
  ja.PublishAsync.AckHandlerClosure = p.get();
  s = natsConnection_JetStream(&p->js_async, p->nc, &ja);
  if (s != NATS_OK) return nats_error("opening JetStream", s);
  p->resolver = std::thread([raw = p.get()] { raw->run_resolver(); });
  // The stream: retried until the timeout in short attempts, since a fresh cluster elects
  // its metadata leader a moment after its servers start, and a request sent before that
  // gets no answer at all.
  auto deadline = std::chrono::steady_clock::now() + std::max(o.timeout, o.start_wait);
  // How many servers the cluster has, before the stream is made with that many replicas: a
  // server tells a client the others as their routes come up, within a moment of a start.
  p->settle_known_servers(deadline);
  auto until_led = [&]() -> domain::status {
    for (;;) {
      auto st = p->ensure_stream(
          std::min<std::chrono::milliseconds>(o.timeout, std::chrono::milliseconds(500)));
      if (st) return st;
      if (st.err().code != domain::errc::unavailable ||
          std::chrono::steady_clock::now() >= deadline) {
        return st;
      }
      nats_Sleep(50);
    }
  };
  if (auto st = until_led(); !st) return std::move(st).err();
  // The stream holds as many replicas as wanted, or a writer raises it now (and waits for
  // its leader again: the raise moves the stream); when the cluster cannot hold them, the
  // node does not start on a stream with fewer copies of the history than asked for.
  bool raised = false;
  auto checked = p->check_replication(&raised);
  if (!checked && o.create && checked.err().code == domain::errc::validation_failed) {
    return std::move(checked).err();
  }
  if (raised) {
    if (auto st = until_led(); !st) return std::move(st).err();
  }
  if (o.create) {
    // As for the stream: retried while the cluster is busy electing (a timeout), until the
    // start wait is over.
    for (;;) {
      auto st = p->ensure_claims_stream();
      if (st) break;
      if (st.err().code != domain::errc::unavailable ||
          std::chrono::steady_clock::now() >= deadline) {
        return std::move(st).err();
      }
      nats_Sleep(100);
    }
  }
  return std::unique_ptr<cluster_log>(new cluster_log(std::move(p)));
}

domain::result<std::uint64_t> cluster_log::append(const cluster_write& write,
                                                  std::uint64_t expected) {
  if (auto stopped = impl_->refuse_if_halted(); !stopped) return std::move(stopped).err();
  const cluster_write* named = &write;
  cluster_write copy;
  if (write.writer.empty()) {
    copy = write;
    copy.writer = new_writer();
    named = &copy;
  }
  const cluster_write& w = *named;
  std::string subject = cluster_subject(w.account_id);
  std::string payload = encode_cluster_write(w);
  // The id names the position the write claims: the account's next sequence number after
  // the stream's last write of the account. Two nodes claiming the same position send the
  // same id, and JetStream stores only the first — which also covers its check of the
  // expected sequence, not atomic in a replicated stream of nats-server 2.9 (two writes
  // expecting the same last sequence can both pass it). A retry of one attempt sends the
  // same id too; the writer tells the cases apart.
  std::string id = position_id(w, expected);
  return impl_->publish(impl_->options.stream, subject, payload, id, expected,
                        impl::written_by(w.writer),
                        "another write of account " + w.account_id + " came first");
}

void cluster_log::append_async(cluster_write w, std::uint64_t expected,
                               std::function<void(domain::result<std::uint64_t>)> done) {
  if (auto stopped = impl_->refuse_if_halted(); !stopped) return done(std::move(stopped).err());
  if (w.writer.empty()) w.writer = new_writer();
  impl::async_append a;
  a.done = std::move(done);
  a.subject = cluster_subject(w.account_id);
  a.payload = encode_cluster_write(w);
  // The id as append() names it (see there).
  a.id = position_id(w, expected);
  a.expected = expected;
  a.until = std::chrono::steady_clock::now() + impl_->options.publish_timeout;
  a.writer = w.writer;
  a.lost = "another write of account " + w.account_id + " came first";
  impl_->publish_async(std::move(a));
}

domain::result<std::uint64_t> cluster_log::append_records(const cluster_records& records,
                                                          std::optional<std::uint64_t> expected) {
  if (auto stopped = impl_->refuse_if_halted(); !stopped) return std::move(stopped).err();
  cluster_records named;
  const cluster_records* r = &records;
  if (records.writer.empty()) {
    named = records;
    named.writer = new_writer();
    r = &named;
  }
  std::string subject = std::string(k_records_prefix) + r->scope;
  std::string payload = encode_cluster_records(*r);
  std::string id = expected ? subject + "/" + std::to_string(*expected) : r->writer;
  return impl_->publish(impl_->options.stream, subject, payload, id, expected,
                        impl::written_by(r->writer), "another write of " + subject + " came first");
}

domain::result<std::vector<std::pair<std::string, std::uint64_t>>> cluster_log::records_heads(
    std::uint64_t at_most) {
  jsOptions o = impl_->js_options();
  std::string filter = std::string(k_records_prefix) + ">";
  o.Stream.Info.SubjectsFilter = filter.c_str();
  jsErrCode code = jsErrCode(0);
  jsStreamInfo* si = nullptr;
  natsStatus s = js_GetStreamInfo(&si, impl_->js, impl_->options.stream.c_str(), &o, &code);
  if (s != NATS_OK) return nats_error("listing the stream's records", s, code);
  std::vector<std::string> subjects;
  if (si->State.Subjects != nullptr) {
    for (int i = 0; i < si->State.Subjects->Count; ++i)
      subjects.emplace_back(si->State.Subjects->List[i].Subject);
  }
  jsStreamInfo_Destroy(si);
  std::vector<std::pair<std::string, std::uint64_t>> heads;
  for (const auto& subject : subjects) {
    auto m = impl_->last_message(subject);
    if (!m) return std::move(m).err();
    if (*m == nullptr) continue;
    std::uint64_t seq = stream_seq_of(*m);
    release(*m);
    if (seq != 0 && seq <= at_most)
      heads.emplace_back(subject.substr(k_records_prefix.size()), seq);
  }
  return heads;
}

domain::result<std::optional<cluster_log::claim_message>> cluster_log::last_claim(
    const std::string& token) {
  auto m = impl_->last_message(std::string(k_claims_prefix) + token, impl_->claims_stream());
  if (!m) return std::move(m).err();
  if (*m == nullptr) return std::optional<claim_message>{};
  claim_message out;
  out.seq = stream_seq_of(*m);
  out.stored_ms = natsMsg_GetTime(*m) / 1000000;
  out.payload = payload_of(*m);
  release(*m);
  return std::optional<claim_message>(std::move(out));
}

domain::result<std::uint64_t> cluster_log::append_claim(const std::string& token,
                                                        const std::string& payload,
                                                        std::uint64_t expected) {
  std::string subject = std::string(k_claims_prefix) + token;
  std::string id = subject + "/" + std::to_string(expected);
  // The payload names its writer (http/idempotency.cpp): equal bytes are this attempt's.
  auto ours = [&payload](natsMsg* m) {
    return payload_of(m) == payload;
  };
  return impl_->publish(impl_->claims_stream(), subject, payload, id, expected, ours,
                        "another request with the same Idempotency-Key came first");
}

domain::result<std::optional<cluster_records>> cluster_log::last_records(std::string_view scope) {
  std::string subject = std::string(k_records_prefix) + std::string(scope);
  auto m = impl_->last_message(subject);
  if (!m) return std::move(m).err();
  if (*m == nullptr) return std::optional<cluster_records>{};
  auto r = records_from_message(*m);
  release(*m);
  if (!r) return std::move(r).err();
  return std::optional<cluster_records>(std::move(*r));
}

domain::result<std::optional<cluster_write>> cluster_log::get(std::uint64_t seq) {
  natsMsg* m = nullptr;
  jsOptions o = impl_->js_options();
  jsErrCode code = jsErrCode(0);
  natsStatus s = js_GetMsg(&m, impl_->js, impl_->options.stream.c_str(), seq, &o, &code);
  if (s == NATS_NOT_FOUND || code == JSNoMessageFoundErr) return std::optional<cluster_write>{};
  if (s != NATS_OK) return nats_error("reading a write", s, code);
  auto w = from_message(m);
  release(m);
  if (!w) return std::move(w).err();
  w->stream_seq = seq;
  return std::optional<cluster_write>(std::move(*w));
}

domain::result<std::optional<cluster_write>> cluster_log::last(std::string_view account_id) {
  auto m = impl_->last_message(cluster_subject(account_id));
  if (!m) return std::move(m).err();
  if (*m == nullptr) return std::optional<cluster_write>{};
  auto w = from_message(*m);
  release(*m);
  if (!w) return std::move(w).err();
  return std::optional<cluster_write>(std::move(*w));
}

domain::status cluster_log::read_account(std::string_view account_id, std::uint64_t from,
                                         const std::function<bool(const cluster_write&)>& fn) {
  auto last_write = last(account_id);
  if (!last_write) return std::move(last_write).err();
  if (!last_write->has_value()) return {};
  const std::uint64_t end = (*last_write)->stream_seq;
  if (from > end) return {};
  // A server that is catching up (after a partition) may serve later writes of the
  // account while it still lacks earlier ones: a write whose first event is past the one
  // expected is read again, from there, a moment later (up to 20 times); only then is it
  // passed on as it is (a broken history, which verify reports).
  constexpr int k_most_rereads = 20;
  std::uint64_t next = std::max<std::uint64_t>(from, 1);
  std::optional<std::uint64_t> next_event;  // the first event the next write must hold
  int rereads = 0;
  std::string subject = cluster_subject(account_id);
  jsOptions o = impl_->js_options();
  for (bool done = false; !done;) {
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = impl_->options.stream.c_str();
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = next;
    natsSubscription* sub = nullptr;
    jsErrCode code = jsErrCode(0);
    natsStatus s = js_SubscribeSync(&sub, impl_->js, subject.c_str(), &o, &so, &code);
    if (s != NATS_OK) return nats_error("reading an account's writes", s, code);
    domain::status result;
    for (;;) {
      natsMsg* m = nullptr;
      s = natsSubscription_NextMsg(&m, sub, impl_->options.timeout.count());
      if (s != NATS_OK) {
        result = nats_error("reading an account's writes", s);
        done = true;
        break;
      }
      auto w = from_message(m);
      release(m);
      if (!w) {
        result = std::move(w).err();
        done = true;
        break;
      }
      if (next_event && w->first_seq > *next_event && rereads < k_most_rereads) {
        ++rereads;
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        break;
      }
      next = w->stream_seq + 1;
      next_event = w->first_seq + w->values.size();
      if (!fn(*w) || w->stream_seq >= end) {
        done = true;
        break;
      }
    }
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    if (!result) return result;
  }
  return {};
}

domain::status cluster_log::for_each_account(const std::function<bool(const std::string&)>& fn) {
  jsOptions o = impl_->js_options();
  std::string filter = std::string(k_events_prefix) + ">";
  o.Stream.Info.SubjectsFilter = filter.c_str();
  jsErrCode code = jsErrCode(0);
  jsStreamInfo* si = nullptr;
  natsStatus s = js_GetStreamInfo(&si, impl_->js, impl_->options.stream.c_str(), &o, &code);
  if (s != NATS_OK) return nats_error("listing the stream's accounts", s, code);
  std::vector<std::string> accounts;
  if (si->State.Subjects != nullptr) {
    for (int i = 0; i < si->State.Subjects->Count; ++i) {
      std::string_view subject = si->State.Subjects->List[i].Subject;
      if (subject.size() > k_events_prefix.size()) {
        accounts.emplace_back(subject.substr(k_events_prefix.size()));
      }
    }
  }
  jsStreamInfo_Destroy(si);
  std::sort(accounts.begin(), accounts.end());
  for (const auto& a : accounts)
    if (!fn(a)) break;
  return {};
}

int cluster_log::wanted_replicas() const { return impl_->wanted_replicas(); }

int cluster_log::known_servers() const { return impl_->most_known_servers(); }

cluster_log::replication cluster_log::replication_status() const {
  std::lock_guard lock(impl_->replication_mu);
  auto r = impl_->replication;
  const auto* v = k_nats_recommended;
  for (const auto& server : impl_->servers_seen) {
    if (!nats_version_at_least(server.version, v[0], v[1], v[2])) {
      r.problems.push_back(impl::old_server_warning(server));
    }
  }
  return r;
}

std::vector<nats_server_info> cluster_log::nats_servers() const {
  std::lock_guard lock(impl_->replication_mu);
  return impl_->servers_seen;
}

std::string cluster_log::new_writer() {
  return impl_->writer_prefix + std::to_string(++impl_->writes);
}

domain::result<std::uint64_t> cluster_log::last_seq() {
  jsOptions o = impl_->js_options();
  jsErrCode code = jsErrCode(0);
  jsStreamInfo* si = nullptr;
  natsStatus s = js_GetStreamInfo(&si, impl_->js, impl_->options.stream.c_str(), &o, &code);
  if (s != NATS_OK) return nats_error("reading the stream's state", s, code);
  std::uint64_t last = si->State.LastSeq;
  jsStreamInfo_Destroy(si);
  return last;
}

domain::status cluster_log::follow(std::uint64_t from,
                                   std::function<void(domain::result<cluster_message>)> fn,
                                   std::function<void(std::uint64_t seq)> diverged) {
  {
    std::lock_guard lock(impl_->follow_mu);
    if (impl_->sub != nullptr || impl_->watchdog.joinable()) {
      return domain::make_error(domain::errc::internal, "the stream is already followed");
    }
    impl_->on_write = std::move(fn);
    impl_->on_diverged = std::move(diverged);
    impl_->next_seq = std::max<std::uint64_t>(from, 1);
    if (auto st = impl_->subscribe(); !st) return st;
  }
  impl_->last_delivery = std::chrono::steady_clock::now();
  impl_->watchdog = std::thread([p = impl_.get()] { p->watch(); });
  return {};
}

domain::result<std::vector<cluster_log::stepdown>> cluster_log::step_down(
    std::chrono::milliseconds wait) {
  // The leader of `stream` as the cluster reports it; nullopt when there is no such stream.
  auto leader_of = [&](const std::string& stream,
                       int* replicas) -> domain::result<std::optional<std::string>> {
    jsOptions o = impl_->js_options();
    jsErrCode code = jsErrCode(0);
    jsStreamInfo* si = nullptr;
    natsStatus st = js_GetStreamInfo(&si, impl_->js, stream.c_str(), &o, &code);
    if (st == NATS_NOT_FOUND || code == JSStreamNotFoundErr) return std::optional<std::string>();
    if (st != NATS_OK) return nats_error("reading the stream's state", st, code);
    std::string leader;
    if (si->Cluster != nullptr && si->Cluster->Leader != nullptr) leader = si->Cluster->Leader;
    if (replicas != nullptr && si->Config != nullptr)
      *replicas = static_cast<int>(si->Config->Replicas);
    jsStreamInfo_Destroy(si);
    return std::optional<std::string>(leader);
  };
  std::vector<stepdown> out;
  const std::string claims = impl_->options.stream + std::string(k_claims_suffix);
  for (const std::string& stream : {impl_->options.stream, claims}) {
    int replicas = 0;
    auto before = leader_of(stream, &replicas);
    if (!before) return std::move(before).err();
    if (!*before) {
      if (stream == claims) continue;  // made by the first Idempotency-Key write
      return domain::make_error(domain::errc::not_found, "the cluster has no stream " + stream);
    }
    if (replicas < 2) {
      return domain::make_error(domain::errc::unavailable,
                                "stream " + stream +
                                    " has one replica: no other server can lead it (raise its "
                                    "replicas first)");
    }
    std::string subject = "$JS.API.STREAM.LEADER.STEPDOWN." + stream;
    natsMsg* reply = nullptr;
    natsStatus st = natsConnection_Request(&reply, impl_->nc, subject.c_str(), nullptr, 0,
                                           static_cast<int64_t>(impl_->options.timeout.count()));
    if (st != NATS_OK) return nats_error("asking the stream's leader to step down", st);
    std::string answer(natsMsg_GetData(reply),
                       static_cast<std::size_t>(natsMsg_GetDataLength(reply)));
    release(reply);
    rapidjson::Document d;
    d.Parse(answer.data(), answer.size());
    if (d.HasParseError() || !d.IsObject() || !d.HasMember("success") || !d["success"].IsBool() ||
        !d["success"].GetBool()) {
      std::string why = answer;
      if (!d.HasParseError() && d.IsObject() && d.HasMember("error") && d["error"].IsObject() &&
          d["error"].HasMember("description") && d["error"]["description"].IsString()) {
        why = d["error"]["description"].GetString();
      }
      return domain::make_error(domain::errc::unavailable,
                                "the leader of stream " + stream + " did not step down: " + why);
    }
    stepdown result{stream, **before, ""};
    auto deadline = std::chrono::steady_clock::now() + wait;
    do {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      auto now = leader_of(stream, nullptr);
      if (now && *now && !(*now)->empty() && **now != **before) {
        result.after = **now;
        break;
      }
    } while (std::chrono::steady_clock::now() < deadline);
    out.push_back(std::move(result));
  }
  return out;
}

domain::result<cluster_log::stream_status> cluster_log::status() {
  jsOptions o = impl_->js_options();
  jsErrCode code = jsErrCode(0);
  jsStreamInfo* si = nullptr;
  natsStatus s = js_GetStreamInfo(&si, impl_->js, impl_->options.stream.c_str(), &o, &code);
  if (s != NATS_OK) return nats_error("reading the stream's state", s, code);
  stream_status out;
  out.stream = impl_->options.stream;
  out.replicas = si->Config != nullptr ? static_cast<int>(si->Config->Replicas) : 0;
  out.messages = si->State.Msgs;
  out.bytes = si->State.Bytes;
  out.last_seq = si->State.LastSeq;
  if (si->Cluster != nullptr) {
    if (si->Cluster->Leader != nullptr) out.leader = si->Cluster->Leader;
    for (int i = 0; i < si->Cluster->ReplicasLen; ++i) {
      const jsPeerInfo* p = si->Cluster->Replicas[i];
      out.followers.push_back({p->Name != nullptr ? p->Name : "", p->Current, p->Offline, p->Lag});
    }
  }
  jsStreamInfo_Destroy(si);
  return out;
}

void cluster_log::suspect() { impl_->suspect_all = true; }

void cluster_log::diverged(std::uint64_t seq, const std::string& why) { impl_->diverge(seq, why); }

std::chrono::milliseconds cluster_log::leaderless_for() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               impl_->led_at.load());
}

void cluster_log::halt(std::uint64_t seq, const std::string& why) { (void)impl_->halt(seq, why); }

void cluster_log::halt(std::uint64_t seq, const domain::error& e) {
  (void)impl_->halt(seq, impl::halt_reason(seq, e, true));
}

std::string cluster_log::halted() const {
  std::lock_guard lock(impl_->halt_mu);
  return impl_->halted_why;
}

bool cluster_log::newer_release(const domain::error& e) { return impl::newer_release(e); }

bool cluster_log::connected() const {
  return natsConnection_Status(impl_->nc) == NATS_CONN_STATUS_CONNECTED;
}

}  // namespace referrald::cluster
