#pragma once

// The actor side of referrald, assembled: the CAF actor system, the loader and history
// pools, the keys actor and the registry of account actors (one per account, spawned on first
// use), plus the commit queue they write through. This header has no CAF in it, so the
// http layer can hand requests over without compiling CAF.
//
// Threading: every method is thread-safe. `tell` never blocks: it enqueues the request
// and the answer arrives later through the request's reply channel.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/insights_collector.hpp"
#include "actors/messages.hpp"
#include "domain/auth/api_key.hpp"
#include "domain/base/json.hpp"
#include "domain/rules/account_state.hpp"
#include "interfaces/placement.hpp"
#include "interfaces/retry_store.hpp"
#include "store/db.hpp"

namespace referrald::actors {

class connection_table;

struct runtime_options {
  std::size_t actor_threads = 0;    // CAF scheduler threads; 0 = half the cores (at least 1)
  std::size_t loader_threads = 2;   // detached loaders reading account state
  std::size_t history_threads = 1;  // detached readers of the past (as_of, audit pages)
  std::chrono::milliseconds load_timeout{30000};
  std::size_t ingest_workers = 0;       // ingest pool size; 0 = one per core
  std::uint64_t snapshot_every = 1000;  // events between an account's snapshots; 0: never
  std::size_t max_regex_rules = 100;    // per account, both kinds, active or not
  // How often the chain verifier walks every account's whole history (0: never).
  std::chrono::seconds verify_every{std::chrono::hours(24)};
  // An account actor that has had no request and whose published state has not been read
  // for this long stops (and is started again on the next request).
  std::chrono::milliseconds account_idle_timeout{std::chrono::minutes(5)};
  // Time as the runtime reads it (domain/base/clock.hpp); null: the machine's. A test's
  // clock (tests/support/test_clock.hpp) moves only when the test moves it.
  const domain::clock* clock = nullptr;
  // Insights' counting (actors/insights_collector.hpp).
  insights_options insights;
  // Cluster mode (docs/cluster.md): the event log is the cluster's stream and
  // the data directory this node's copy of it. Unset: the embedded store.
  struct cluster_settings {
    std::vector<std::string> servers;  // nats://host:port
    std::string node_name;
    std::uint32_t partitions = 64;  // of the owners, for a cluster that has no number yet
    int replicas = 0;               // 0: the cluster's size, at most 3 (cluster::cluster_options)
    // At start: how long to wait for the cluster to answer (a cluster restarting elects
    // its leaders some seconds after its servers are up).
    std::chrono::milliseconds start_wait{30000};
    // The peer link (cluster/cluster_placement.hpp): where it listens ("": none) and the
    // address the other nodes reach it at ("": as bound).
    std::string peer_host;
    std::uint16_t peer_port = 0;
    std::string peer_advertise;
    // Called once (on a thread of the cluster log's; it must not block) when this node
    // finds that its copy applied a message the stream does not hold: the copy is marked
    // (cluster::cluster_cache::diverged()) and the node should stop, to fill a new one from
    // the stream when started again (docs/cluster.md).
    std::function<void()> on_copy_diverged;
  };
  std::optional<cluster_settings> cluster;
};

class runtime {
 public:
  // Loads the API keys and starts the actors. Throws std::runtime_error when the keys
  // cannot be read (a fatal start-up error).
  runtime(store::db& db, runtime_options options);
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  // Hands a request to the account's actor (spawning it on first use).
  void tell(const std::string& account_id, account_request request);
  // Hands a request to the keys actor.
  void tell(keys_request request);
  // Hands a request to the connections actor.
  void tell(connections_request request);
  // Hands a push or a report to the ingest pool.
  void tell(ingest_request request);
  // Hands a read of an account's past (as_of, audit log) to the history pool (loaders of
  // their own, so that account loads never wait behind them).
  void tell(history_request request);
  // Hands a backup request to the backup actor.
  void tell(backup_request request);

  // The current connections (active and deleted), swapped after each change.
  std::shared_ptr<const connection_table> connections() const;

  // The account's durable state as its actor last published it, for reading on any
  // thread; null when the account's actor is not running or still loading (then send the
  // request to the actor with tell()). A write that has been answered is in it.
  std::shared_ptr<const domain::account_state> view(const std::string& account_id) const;

  // The current table of active keys; swapped atomically after each key change.
  std::shared_ptr<const domain::key_table> keys() const;

  // Whether the node can serve: its store takes writes and, in cluster mode, it is
  // connected to the cluster and has caught up with the stream as it was when it started.
  struct readiness {
    bool store_writable = true;
    bool cluster = false;  // cluster mode: the fields below apply
    bool connected = false;
    bool caught_up = false;
    std::uint64_t applied = 0;  // stream sequence applied here
    // and confirmed by the stream's leader to be what the stream holds (cluster_log::confirmed)
    std::uint64_t confirmed = 0;
    double apply_lag_seconds = 0;
    // The stream's replication as last seen: replicas it has, wanted, caught up and online,
    // and what is wrong with it. A warning, not a reason to take this node out of a load
    // balancer: a replica down or lagging stops no node from serving, and the whole fleet
    // would go unready at once.
    bool replication_known = false;
    int replicas = 0, replicas_wanted = 0, replicas_current = 0;
    std::vector<std::string> replication_problems;
    // Why the node stopped applying the stream ("": it applies it): a message from a newer
    // release, one that cannot be read or applied, or a copy that differs from the stream.
    std::string halted;
    // How long the stream has been without a leader as this node's NATS server sees it
    // (0 while led): more than 5 s is a reason not to be ready (no write can be stored).
    double leaderless_seconds = 0;
    // How many times this node's data directory had to fill a new copy from the stream
    // (its copy differed from the stream): 0 in a cluster that never lost a write.
    std::uint64_t copy_refills = 0;
    // The NATS servers as each last said of itself: name (or address), address, version.
    struct nats_server {
      std::string name, address, version;
    };
    std::vector<nats_server> nats_servers;
  };
  readiness ready() const;
  // Why a node is not ready (none: ready), as /readyz and the systemd status say it.
  static std::vector<std::string> not_ready_reasons(const readiness& r);

  // Where Idempotency-Key records are kept (interfaces/retry_store.hpp): this node's store,
  // or in cluster mode the cluster's stream. Valid until shutdown().
  interfaces::retry_store& retries() const;
  // Where each write is made (interfaces/placement.hpp): here, or in cluster mode at the
  // owner of its account or brand. Valid while the runtime lives; closed by shutdown().
  interfaces::placement& placement() const;

  // Insights' counting of live resolutions and its book of days.
  insights_collector& insights() const;

  // Cluster mode: the stream sequence this node's copy has applied, and `fn(true)` once it
  // has applied `seq` (on the follower's thread, or at once); fn(false) when the node stops
  // first. Embedded mode: 0, and fn(true) at once.
  std::uint64_t cluster_applied() const;
  void when_applied(std::uint64_t seq, std::function<void(bool)> fn);
  // `fn(true)` once a read of the account on this node finds its event `event_seq`: in the
  // state of its actor where one runs (asked with await_loaded_req), else in the node's copy
  // (cluster mode; no actor is started for it: one started from then on reads it there, and
  // one started meanwhile without it is asked in turn). On the follower's thread, an actor's,
  // or at once. fn(false) when the node stops first, when the actor does not reach it within
  // its wait, or once `until` (steady clock) has passed and other waits keep coming (a
  // follower that stopped applying keeps no waits past their time).
  void when_readable(const std::string& account_id, std::uint64_t event_seq,
                     std::chrono::steady_clock::time_point until, std::function<void(bool)> fn);

  // Number of account actors alive.
  std::size_t live_accounts() const;

  // The figures of /metrics beyond the requests': the store's (store::db::render_metrics)
  // and, in cluster mode, the cluster's (Prometheus text format).
  void render_metrics(std::string& out) const;
  // What /readyz says beside its status and reasons: in cluster mode, the "cluster" object
  // and the stream's replication "warnings" (docs/operations.md).
  static void write_details(domain::json_writer& w, const readiness& r);

  // Stops every actor and writes what the commit queue still holds. Idempotent.
  void shutdown();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace referrald::actors
