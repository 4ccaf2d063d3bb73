#pragma once

// The event log on a replicated NATS JetStream stream: the store of cluster mode
// (docs/cluster.md). Every node appends to it and follows it; its own RocksDB
// is then a cache of what it has applied. The stream, its subjects, headers and message
// encoding:
//
//   stream   := name "REFERRALD" (configurable), file storage, N replicas, no limits,
//               deletes and purges denied (the audit trail is immutable), messages of
//               at most 8 MiB, subjects "referrald.>"
//   subject  := "referrald.events." account_id      (account ids are valid subject
//                                                    tokens: a-z 0-9 _ -)
//   message  := one write of one account: one or more events, numbered and chained by
//               the account's actor, stored all or none
//   headers  := "Nats-Msg-Id: " account_id "/" first_seq "/" expected
//                    (the position the write claims: JetStream stores only the first
//                    message of an id, so two nodes' writes claiming one position never
//                    both land, and a retried attempt is stored once; the writer below
//                    tells which it was)
//               "Nats-Expected-Last-Subject-Sequence: " n
//                    (the stream sequence of the account's previous write: the write is
//                    refused when another node's write came in between)
//             | "Nats-Expected-Last-Subject-Sequence: 0" for the account's first write
//   payload  := version:u8(0x01) account_id:lpstr first_seq:varint count:varint
//               (event:lpstr){count} writer:lpstr
//   writer   := node_name "/" process nonce (16 hex) "/" a counter: names this one
//               attempt, so that two nodes' byte-identical writes (the same rule created
//               on both in the same millisecond) are never taken one for the other
//   event    := the stored value of store/event_log.cpp (version, type, ..., prev_hash,
//               hash, crc), for seq first_seq + i
//   lpstr, varint as in domain/base/codec.hpp
//
// Records — the data every node keeps an identical copy of besides the accounts' events
// (API keys, AI-referral connections, rows and batch records) — travel as the store
// records a node would write, applied as they are by every node in stream order:
//
//   subject  := "referrald.records.keys"                  (every API key write, since
//                                                       0.4: each claims the subject's
//                                                       position, so that every key
//                                                       write is decided on all before it)
//             | "referrald.records.keys." key_id       (one API key's versions, as
//                                                       release 0.3 wrote them; read)
//             | "referrald.records.connections." brand_id  (a brand's connections; each
//                                                       write claims the position)
//             | "referrald.records.ai." brand_id           (a push without batch_id)
//             | "referrald.records.batch." brand_id "." h  (a push with a batch_id: h is
//                    the first 16 bytes of SHA-256(connection_id NUL batch_id) as hex; the
//                    first push claims it with expected sequence 0, so one batch_id is
//                    stored once across the cluster)
//   headers  := "Nats-Msg-Id: " subject "/" expected   when the write expects a sequence
//             | "Nats-Msg-Id: " writer                  otherwise
//               "Nats-Expected-Last-Subject-Sequence: " n   when it expects one
//   payload  := version:u8(0x01) count:varint (record){count} writer:lpstr
//   record   := column:lpstr ("keys" | "connections" | "ai_rows" | "ai_batches" | "default")
//               key:lpstr value:lpstr   (the put, in the layouts of store/key_store.hpp and
//                                        store/ai_store.hpp; in "default" only admin audit
//                                        entries, keys starting "audit.": store/admin_audit.hpp)
//
// Idempotency-Key records (http/idempotency.hpp) travel in a second stream:
//
//   stream   := the events stream's name + "_IDEM" ("REFERRALD_IDEM"), file storage, as
//               many replicas, deletes and purges denied, each message kept 25 hours
//               (MaxAge), subjects "referrald-idem.>"
//   subject  := "referrald-idem." token   (token: the first 16 bytes of SHA-256 of
//                                          key_id "." Idempotency-Key, as hex)
//   headers  := "Nats-Msg-Id: " subject "/" expected
//               "Nats-Expected-Last-Subject-Sequence: " expected  (or no message, for 0)
//   payload  := one JSON object: {"v":1,"kind":"claim"|"answer"|"released",...}
//
// Thread-safe: every call may come from any thread.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <variant>

#include "cluster/nats_server_info.hpp"
#include "domain/base/result.hpp"
#include "store/db.hpp"

namespace referrald::cluster {

// One write of one account, as a message of the stream.
struct cluster_write {
  std::string account_id;
  std::uint64_t first_seq = 0;      // the account's sequence number of values[0]
  std::vector<std::string> values;  // stored event values (store/event_log.cpp)
  std::uint64_t stream_seq = 0;     // the message's sequence in the stream (0: not stored)
  std::string writer;  // who wrote it: one attempt of one node (append() names it when empty)

  friend bool operator==(const cluster_write&, const cluster_write&) = default;
};

// One put of a store record (see "Records" above).
struct cluster_record {
  store::column cf = store::column::keys;
  std::string key;
  std::string value;

  friend bool operator==(const cluster_record&, const cluster_record&) = default;
};

// A write of records, as a message of the stream.
struct cluster_records {
  std::string scope;  // the subject after "referrald.records."
  std::vector<cluster_record> records;
  std::string writer;
  std::uint64_t stream_seq = 0;

  friend bool operator==(const cluster_records&, const cluster_records&) = default;
};

// A message as the follower gets it.
struct cluster_message {
  std::variant<cluster_write, cluster_records> body;
  std::int64_t published_ms = 0;  // when the stream stored it (Unix ms)
  std::uint64_t pending = 0;      // messages after it the follower has yet to get
  // The follower holds the next message already (delivered to this node, not yet passed
  // on): applying this one may wait to be written with it. When none is held any more,
  // the follower says so (follow()'s `idle`).
  bool more_queued = false;
};

std::string encode_cluster_records(const cluster_records& r);
domain::result<cluster_records> decode_cluster_records(std::string_view scope,
                                                       std::string_view payload);

// The subject and payload of a write, and back (exposed for tests).
std::string cluster_subject(std::string_view account_id);
std::string encode_cluster_write(const cluster_write& w);
domain::result<cluster_write> decode_cluster_write(std::string_view payload);

struct cluster_options {
  std::vector<std::string> servers;  // nats://host:port
  std::string node_name;             // the connection's name, seen in the servers' monitoring
  // Replicas the stream must have: made with them, raised to them by a writer (create
  // true) that finds fewer. 0: the cluster's size as its servers tell a client (the
  // servers they advertise, else those given), at most 3.
  int replicas = 0;
  std::string stream = "REFERRALD";
  std::chrono::milliseconds timeout{5000};  // for one request to the cluster
  // For one append: short, so that a write sent to a server that just went away is
  // answered `unavailable` (and retried by its client) soon, not after `timeout`.
  std::chrono::milliseconds publish_timeout{1500};
  // open(): how long to keep trying while the cluster does not answer or has no stream
  // leader yet (at least `timeout`).
  std::chrono::milliseconds start_wait{0};
  // The connection sends a PING this often and, when `max_pings_out` are unanswered as
  // the next is due, takes the link for dead and reconnects: a link that went silent (a
  // partition that drops packets and keeps the TCP connection open) is noticed within
  // about (max_pings_out + 1) intervals, and connected() is false until a server answers.
  std::chrono::milliseconds ping_interval{1000};
  int max_pings_out = 2;
  bool create = true;  // make the stream when the cluster has none (readers: false)
};

struct cluster_native;

class cluster_log {
 public:
  // Connects (retrying in the background while no server answers) and makes sure the
  // stream exists with the configuration above (not_found when it does not and
  // `create` is false); unavailable when the cluster does not answer within the
  // timeout (or start_wait, when longer).
  static domain::result<std::unique_ptr<cluster_log>> open(const cluster_options& o);
  ~cluster_log();
  cluster_log(const cluster_log&) = delete;
  cluster_log& operator=(const cluster_log&) = delete;

  // Appends `w` when the account's last write in the stream is at stream sequence
  // `expected` (0: the account has none). The write's stream sequence once a quorum of
  // replicas stored it — also when an earlier attempt of this same write was stored and
  // its acknowledgement lost; beaten when another write of the account came first
  // (nothing stored); unavailable when the cluster cannot store it now (no quorum, no
  // server: the write may still be stored later, once, as a retry would find).
  domain::result<std::uint64_t> append(const cluster_write& w, std::uint64_t expected);

  // append() without waiting: `done` gets what append() would return, once, on a thread
  // of the client's (it must be quick and must not block; an outcome that needs a look at
  // the stream — a duplicate id, a failed expectation — is decided on a thread of the
  // log's). The client keeps up to 4,096 appends in flight; each is given up after
  // `publish_timeout` (unavailable: it may still be stored, once, as for append()).
  void append_async(cluster_write w, std::uint64_t expected,
                    std::function<void(domain::result<std::uint64_t>)> done);

  // Appends records under "referrald.records." r.scope: when `expected` is set, only if
  // the subject's last message is at that stream sequence (0: the subject has none),
  // else beaten. The message's stream sequence, as for append().
  domain::result<std::uint64_t> append_records(const cluster_records& r,
                                               std::optional<std::uint64_t> expected);

  // Every scope of records in the stream with the stream sequence of its last records,
  // those at most `at_most` only (what a copy that applied the stream up to `at_most` has).
  domain::result<std::vector<std::pair<std::string, std::uint64_t>>> records_heads(
      std::uint64_t at_most);

  // Idempotency-Key records of the cluster (http/idempotency.hpp) live in a stream of their
  // own, the events stream's name + "_IDEM": subjects "referrald-idem." token, file
  // storage, as many replicas, API deletes denied, each message kept 25 hours (MaxAge: how
  // a record expires in a stream nobody deletes from). Made by a writer when missing.
  struct claim_message {
    std::uint64_t seq = 0;
    std::int64_t stored_ms = 0;  // when the stream stored it (Unix ms)
    std::string payload;
  };
  // The last message under `token` (nullopt: none is kept).
  domain::result<std::optional<claim_message>> last_claim(const std::string& token);
  // Appends `payload` under `token` when its last message is at stream sequence `expected`
  // (0: none): its sequence; beaten when another message came first.
  domain::result<std::uint64_t> append_claim(const std::string& token, const std::string& payload,
                                             std::uint64_t expected);

  // The last records written under `scope`; nullopt when there are none.
  domain::result<std::optional<cluster_records>> last_records(std::string_view scope);

  // The write at stream sequence `seq`; nullopt when there is none.
  domain::result<std::optional<cluster_write>> get(std::uint64_t seq);

  // The account's last write; nullopt when it has none.
  domain::result<std::optional<cluster_write>> last(std::string_view account_id);

  // Calls `fn` with the account's writes at stream sequence >= `from`, in order, until it
  // returns false or the account's last write (as it was when the call began) was passed.
  domain::status read_account(std::string_view account_id, std::uint64_t from,
                              const std::function<bool(const cluster_write&)>& fn);

  // Every account with at least one write, in account-id order.
  domain::status for_each_account(const std::function<bool(const std::string&)>& fn);

  // A name for one write attempt (cluster_write::writer), unique across nodes.
  std::string new_writer();

  // The stream's last sequence number (0 when empty).
  domain::result<std::uint64_t> last_seq();

  // Calls `fn` with every message (writes and records) from stream sequence `from` on,
  // in stream order, on a client thread, until the log is destroyed or the follower
  // halts; reconnects by itself. Never skips a message: one that does not decode (a newer
  // release's encoding, or damaged) halts the follower there (halted() says why), and
  // `fn` gets nothing after it. One follower at a time.
  //
  // What the follower applied is confirmed against the stream's leader, which alone
  // answers reads by sequence: every second, the last message applied, the last one
  // confirmed before and a sample of the others since (all of them after a change of
  // leader, a lost link or a suspect() call) are read from the leader and compared, byte
  // for byte, with what was applied. A message that differs, or one the leader lacks
  // for three seconds running, means this node applied what the stream does not hold (a
  // replica that kept writes it never replicated: see docs/cluster.md): the follower
  // halts and `diverged` is called once, on a thread of the log's, with the sequence.
  //
  // `idle` (optional) is called when the follower holds no message it has not passed on
  // (after a message without more_queued, one it did not pass on, and every second), on
  // the thread that calls `fn` and never at once with it: what `fn` kept back to write
  // together is written then.
  domain::status follow(std::uint64_t from, std::function<void(domain::result<cluster_message>)> fn,
                        std::function<void(std::uint64_t seq)> diverged = {},
                        std::function<void()> idle = {});

  // Asks the follower to confirm every message it applied since the last confirmation
  // at its next check.
  void suspect();

  // The stream sequence up to which the stream's leader confirmed what the follower
  // applied (0: none yet).
  std::uint64_t confirmed() const;

  // What the follower's confirmation does when it finds a difference, for one the caller
  // found (a write that does not fit the node's copy): halts at `seq` and calls the
  // `diverged` function given to follow(), on this thread.
  void diverged(std::uint64_t seq, const std::string& why);

  // Stops the follower at stream sequence `seq` (not applied): nothing after it is passed
  // on, and append() and append_records() answer `unavailable` from then on (a write would
  // be decided on a copy that no longer follows the stream). `why` is what halted() says.
  // The first halt stays.
  void halt(std::uint64_t seq, const std::string& why);
  // The same for a message that decoded but could not be applied with `e`: "a newer release
  // wrote message N of the stream: upgrade this node (...)" when `e` says so
  // (newer_release()), else "cannot apply message N of the stream: ...".
  void halt(std::uint64_t seq, const domain::error& e);

  // How long since the follower's checks (every second) last found the stream led, as the
  // server this client is connected to sees it: writes cannot be stored meanwhile.
  std::chrono::milliseconds leaderless_for() const;

  // Why the follower halted ("" while it follows).
  std::string halted() const;

  // The replicas wanted (cluster_options::replicas, or the cluster's size), and how many
  // servers the cluster told this client of.
  int wanted_replicas() const;
  int known_servers() const;

  // The stream's replication as last seen (every few seconds, by a thread of the log's):
  // the replicas it has, those caught up and online, and what is wrong. A writer also
  // raises the stream's replicas to the wanted number when it finds fewer (once the
  // cluster has the servers), and logs it.
  struct replication {
    bool known = false;  // at least one look succeeded
    int replicas = 0;    // the stream's configured replicas
    int wanted = 0;
    int current = 0;                    // the leader and the followers caught up and online
    std::vector<std::string> problems;  // "under-replicated ...", "replica n2 is offline"...
  };
  replication replication_status() const;
  // The NATS servers given and discovered, with the version each said it runs when last
  // read (at start and every minute); one older than k_nats_recommended is also a problem
  // of replication_status().
  std::vector<nats_server_info> nats_servers() const;

  // Moves the leadership of the events stream, and of the idempotency stream when there
  // is one, off their current leaders ($JS.API.STREAM.LEADER.STEPDOWN: the leader hands
  // over to a caught-up replica), so that their servers can be stopped for maintenance
  // without the election a lost leader costs; waits up to `wait` for each to have a new
  // leader. Per stream: its name and the leader before and after ("" when none yet).
  // unavailable when a stream has a single replica (no other server can lead it) or the
  // cluster refuses.
  struct stepdown {
    std::string stream, before, after;
  };
  domain::result<std::vector<stepdown>> step_down(std::chrono::milliseconds wait);

  // The stream as the cluster reports it: its leader, replicas and size.
  struct stream_status {
    std::string stream;
    std::string leader;  // the server leading it ("" while it has none)
    struct replica {
      std::string server;
      bool current = false;  // caught up with the leader
      bool offline = false;
      std::uint64_t lag = 0;  // operations behind the leader
    };
    std::vector<replica> followers;  // the replicas other than the leader
    int replicas = 0;                // configured
    std::uint64_t messages = 0, bytes = 0, last_seq = 0;
  };
  domain::result<stream_status> status();

  // True while connected to a server.
  bool connected() const;
  // For a node that stops: from now until the log is destroyed, a thread of its own
  // (`log.stopping`) closes the connection once no server has been reachable for `grace`, so
  // that what the stop still asks of the cluster (its key deleted, its subscriptions drained,
  // its consumers deleted) fails at once instead of each request waiting out its timeout —
  // whether the servers were gone before the stop or go while it runs (a machine's shutdown
  // stopping its NATS server and its node at once). Logs a warning when it closes. Only the
  // first call has an effect.
  void close_when_unreachable(std::chrono::milliseconds grace);

  // Whether `e` (from decoding a message or a stored value) is an encoding newer than
  // this release reads: a version byte past the newest known, or a column it does not
  // know. Such a message halts the follower until the node is upgraded.
  static bool newer_release(const domain::error& e);

 private:
  friend struct cluster_native;  // cluster/cluster_native.hpp
  struct impl;
  explicit cluster_log(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace referrald::cluster
