#include "actors/runtime.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <iterator>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "actors/account_actor.hpp"
#include "actors/backups.hpp"
#include "actors/chain_verifier.hpp"
#include "actors/connections_actor.hpp"
#include "actors/ingest.hpp"
#include "actors/keys_actor.hpp"
#include "actors/loader.hpp"
#include "actors/table_readers.hpp"
#include "cluster/cluster_cache.hpp"
#include "cluster/cluster_log.hpp"
#include "cluster/cluster_node.hpp"
#include "cluster/cluster_placement.hpp"
#include "cluster/retry_stream.hpp"
#include "domain/base/digest.hpp"
#include "domain/base/json.hpp"
#include "domain/base/position_waits.hpp"
#include "infra/log.hpp"
#include "infra/metrics.hpp"
#include "snapshots/snapshot_store.hpp"
#include "store/ai_store.hpp"
#include "store/commit_queue.hpp"
#include "store/embedded_journal.hpp"
#include "store/key_store.hpp"
#include "store/retry_records.hpp"

namespace referrald::actors {

namespace {

std::unique_ptr<caf::actor_system_config> make_config(const runtime_options& o) {
  auto cfg = std::make_unique<caf::actor_system_config>();
  cfg->add_message_types<caf::id_block::referrald>();
  // Half the cores by default: the actors do a write's bookkeeping between an HTTP thread and
  // the store's commit thread (reads and batches never wait for them), and a worker more than
  // that work needs only adds sleeps and wake-ups to every write's hand-offs.
  std::size_t threads = o.actor_threads != 0
                            ? o.actor_threads
                            : std::max<std::size_t>(1, std::thread::hardware_concurrency() / 2);
  cfg->set("scheduler.max-threads", threads);
  // Workers poll briefly, then sleep on their condition variable until a message comes.
  // CAF's middle stage (50 sleeps of 50 us between polls) is skipped: on a machine of few
  // cores each of those sleeps is a context switch, taken between every two messages of a
  // write's hand-offs (the cluster's creates spent more in them than in their own work).
  cfg->set("work-stealing.aggressive-poll-attempts", 10);
  cfg->set("work-stealing.moderate-poll-attempts", 0);
  cfg->set("work-stealing.moderate-sleep-duration", caf::timespan{std::chrono::microseconds(50)});
  cfg->set("work-stealing.relaxed-sleep-duration", caf::timespan{std::chrono::milliseconds(5)});
  cfg->set("logger.verbosity", caf::atom("quiet"));
  cfg->set("logger.console", caf::atom("none"));
  return cfg;
}

}  // namespace

struct runtime::impl {
  explicit impl(store::db& d, const runtime_options& o)
      : clock(o.clock != nullptr ? *o.clock : domain::system_clock()),
        db(d),
        log(d),
        snaps(d),
        commits(d),
        cfg(make_config(o)),
        sys(*cfg) {
    // Before any actor exists: a failure here must not leave actors the system waits for.
    if (o.cluster) start_cluster(*o.cluster);
    // The other choice of the mode: where Idempotency-Key records are kept.
    retries = node ? cluster::make_retry_stream(node->log(), clock)
                   : store::make_local_retry_store(d, clock);
    // And where each write is made: here, or at its owner's.
    if (node) {
      cluster::placement_options po;
      po.node = o.cluster->node_name;
      po.partitions = o.cluster->partitions;
      po.peer_host = o.cluster->peer_host;
      po.peer_port = o.cluster->peer_port;
      po.peer_advertise = o.cluster->peer_advertise;
      placement = cluster::make_cluster_placement(
          node->log(), po, [this] { return node->applied(); }, clock);
    } else {
      placement = std::make_unique<interfaces::local_placement>();
    }
    // In cluster mode, once the node's copy has caught up with the stream's keys.
    auto keys = store::key_store(d).load_all();
    if (!keys) throw std::runtime_error("cannot read API keys: " + keys.err().message);
    auto conns = store::ai_store(d).load_connections();
    if (!conns) throw std::runtime_error("cannot read connections: " + conns.err().message);
    // Every read that can fail is done. Should spawning fail all the same, the actors that
    // exist are stopped before the error leaves: the actor system waits for its actors when
    // it is destroyed, and would hang the process instead of letting it exit.
    try {
      spawn_actors(o, std::move(*keys), std::move(*conns));
    } catch (...) {
      stop_actors();
      throw;
    }
    insights = std::make_unique<insights_collector>(db, clock, o.insights);
  }

  void spawn_actors(const runtime_options& o, std::vector<domain::api_key> keys,
                    std::vector<domain::connection> conns) {
    svc.clock = &clock;
    svc.db = &db;
    svc.insights_off = [this](const std::string& account) {
      if (insights) insights->forget(account);
    };
    svc.log = &log;
    // The one choice of the mode: where writes go.
    if (node) {
      svc.journal = &node->journal();
    } else {
      journal = store::make_embedded_journal(db, log, commits);
      svc.journal = journal.get();
    }
    svc.load_timeout = o.load_timeout;
    svc.idle_timeout = o.account_idle_timeout;
    svc.evict = [this](const std::string& account, const caf::actor_addr& who) {
      return evict(account, who);
    };
    svc.forward = [this](const std::string& account, account_request req) {
      tell(account, std::move(req));
    };
    svc.snapshot_every = o.snapshot_every;
    svc.max_regex_rules = o.max_regex_rules;
    svc.broken = &broken;
    svc.readers = &readers;
    loader_ctx = loader_context{&db, &log, &snaps, o.snapshot_every};
    svc.loaders = spawn_loader_pool(sys, loader_ctx, std::max<std::size_t>(1, o.loader_threads));
    // History reads (as_of, audit pages) fold stored events at length: they get their own
    // threads, so that an account load never waits behind one.
    history = spawn_loader_pool(sys, loader_ctx, std::max<std::size_t>(1, o.history_threads));
    backups_handle = spawn_backup_actor(sys, db, clock);
    keys_handle = spawn_keys_actor(
        sys, std::move(keys), &svc,
        [this](std::shared_ptr<const domain::key_table> t) { key_table.store(std::move(t)); });
    connections_handle = spawn_connections_actor(sys, std::move(conns), &svc,
                                                 [this](std::shared_ptr<const connection_table> t) {
                                                   connection_table_ptr.store(std::move(t));
                                                 });
    // Cluster mode: the follower may have applied keys or connections since they were read
    // above; from now on it tells the actors, and they read them again once now.
    records_actors_ready.store(true, std::memory_order_release);
    if (node) {
      tell_reader(table_readers::keys, 1);
      tell_reader(table_readers::connections, 1);
    }
    ingest_svc.clock = &clock;
    ingest_svc.db = &db;
    ingest_svc.journal = svc.journal;
    ingest_svc.registry = &registry;
    ingest_svc.platforms = &domain::ai_platform_list::builtin();
    std::size_t workers = o.ingest_workers != 0
                              ? o.ingest_workers
                              : std::max<std::size_t>(1, std::thread::hardware_concurrency());
    ingest_pool = spawn_ingest_pool(sys, ingest_svc, workers);
    verifier = std::make_unique<chain_verifier>(db, broken, o.verify_every);
  }

  // Cluster mode: this node's side of the cluster (the stream, its copy, the writers and the
  // follower), which tells the accounts' actors what it applied.
  void start_cluster(const runtime_options::cluster_settings& c) {
    cluster::cluster_options co;
    co.servers = c.servers;
    co.node_name = c.node_name;
    co.replicas = c.replicas;
    co.start_wait = c.start_wait;
    node = std::make_unique<cluster::cluster_node>(db, log, co, clock);
    svc.copy_misfit = [this](const std::string& account_id, const std::string& why) {
      node->copy_does_not_fit(account_id, why);
    };
    cluster::node_hooks hooks;
    hooks.account_applied = [this](const std::string& account, std::uint64_t last_event,
                                   std::shared_ptr<const std::vector<domain::event>> events) {
      {
        std::shared_lock lock(mu);
        auto it = accounts.find(account);
        // Unless it is the node's own write, whose outcome the actor waits for: no message
        // (nor a read of the copy) for it.
        if (it != accounts.end() && last_event > it->second.published->known_through.load())
          caf::anon_send(it->second.actor, copied_events{last_event, std::move(events)});
      }
      if (copy_waiting.load() != 0) copied(account, last_event);
    };
    hooks.records_applied = [this](const std::string& scope, std::uint64_t seq) {
      if (!records_actors_ready.load(std::memory_order_acquire)) return;
      if (scope == "keys" || scope.starts_with("keys.")) {
        tell_reader(table_readers::keys, seq);
      } else if (scope.starts_with("connections.")) {
        tell_reader(table_readers::connections, seq);
      }
    };
    hooks.account_broken = [this](const std::string& account, const std::string& why) {
      broken.mark(account, why);
    };
    hooks.copy_diverged = c.on_copy_diverged;
    node->start(std::move(hooks));
  }

  // Cluster mode: what waits for an account's event to be in the copy (when_copied), by
  // account and event, until account_applied says the copy holds it or the runtime stops.
  struct copy_waiter {
    std::chrono::steady_clock::time_point until;
    std::function<void(bool)> fn;
  };
  // At this many waiters, those past their time are dropped; and again each time the
  // waiters have doubled since (a few at any time while the follower applies).
  static constexpr std::size_t k_copy_waiters_kept = 256;
  std::size_t copy_waiters_sweep_at = k_copy_waiters_kept;
  std::mutex copy_waiters_mu;
  std::unordered_map<std::string, domain::position_waits<copy_waiter>> copy_waiters;
  std::atomic<std::size_t> copy_waiting{0};  // the waiters' count, read without the lock
  bool copy_waiters_closed = false;

  void when_copied(const std::string& account_id, std::uint64_t event_seq,
                   std::chrono::steady_clock::time_point until, std::function<void(bool)> fn) {
    bool ok = false;
    std::vector<copy_waiter> expired;
    {
      std::lock_guard lock(copy_waiters_mu);
      if (copy_waiting.load() >= copy_waiters_sweep_at) expired = take_expired_copy_waiters();
      if (!copy_waiters_closed) {
        // Counted before the copy is read: the follower commits, then reads the count, so
        // either this read sees the event or the follower sees this waiter.
        copy_waiting.fetch_add(1);
        auto head = log.head(account_id);
        if (!head || head.value() < event_seq) {
          copy_waiters[account_id].add(event_seq, copy_waiter{until, std::move(fn)});
          fn = nullptr;
        } else {
          copy_waiting.fetch_sub(1);
          ok = true;
        }
      }
    }
    for (auto& w : expired)
      w.fn(false);
    if (fn) fn(ok);
  }

  // Under copy_waiters_mu: the waiters past their time.
  std::vector<copy_waiter> take_expired_copy_waiters() {
    std::vector<copy_waiter> expired;
    auto now = clock.steady_now();
    for (auto it = copy_waiters.begin(); it != copy_waiters.end();) {
      auto due = it->second.take_if([&](const copy_waiter& w) { return w.until <= now; });
      std::move(due.begin(), due.end(), std::back_inserter(expired));
      it = it->second.empty() ? copy_waiters.erase(it) : std::next(it);
    }
    auto left = copy_waiting.fetch_sub(expired.size()) - expired.size();
    copy_waiters_sweep_at = std::max(k_copy_waiters_kept, 2 * left);
    return expired;
  }

  // The copy now holds the account's events through `last_event`.
  void copied(const std::string& account_id, std::uint64_t last_event) {
    std::vector<copy_waiter> ready;
    {
      std::lock_guard lock(copy_waiters_mu);
      auto it = copy_waiters.find(account_id);
      if (it == copy_waiters.end()) return;
      ready = it->second.take_through(last_event);
      if (it->second.empty()) copy_waiters.erase(it);
      copy_waiting.fetch_sub(ready.size());
    }
    for (auto& w : ready)
      w.fn(true);
  }

  // No event will be copied any more: every waiter is told so.
  void close_copy_waiters() {
    std::vector<copy_waiter> left;
    {
      std::lock_guard lock(copy_waiters_mu);
      copy_waiters_closed = true;
      for (auto& [account, waiting] : copy_waiters) {
        auto all = waiting.take_all();
        std::move(all.begin(), all.end(), std::back_inserter(left));
      }
      copy_waiters.clear();
      copy_waiting.store(0);
    }
    for (auto& w : left)
      w.fn(false);
  }

  // Tells the keys or connections actor to read the node's copy again: it has not read it
  // since the copy came to hold `seq` (actors/table_readers.hpp).
  void tell_reader(table_readers::reader r, std::uint64_t seq) {
    readers.told(r, seq);
    if (r == table_readers::keys) {
      caf::anon_send(keys_handle, cluster_sync_atom_v);
    } else {
      caf::anon_send(connections_handle, cluster_sync_atom_v);
    }
  }

  std::shared_ptr<const domain::account_state> view(const std::string& account_id) const {
    std::shared_lock lock(mu);
    auto it = accounts.find(account_id);
    if (it == accounts.end()) return nullptr;
    published_state& p = *it->second.published;
    p.touch(clock.now_ms());
    return p.state.load();
  }

  // Sends while holding the registry lock, so that once an actor has removed itself
  // (evict) no message can reach it any more: everything sent to it was sent before.
  void tell(const std::string& account_id, account_request request) {
    auto send = [&](const account_actor& a) {
      std::visit([&](auto&& req) { caf::anon_send(a, std::move(req)); }, std::move(request));
    };
    {
      std::shared_lock lock(mu);
      auto it = accounts.find(account_id);
      if (it != accounts.end()) return send(it->second.actor);
    }
    account_actor fresh;
    {
      std::unique_lock lock(mu);
      if (stopping) return;  // the request's reply channel answers `unavailable`
      auto it = accounts.find(account_id);
      if (it == accounts.end()) {
        auto published = std::make_shared<published_state>();
        fresh = spawn_account_actor(sys, account_id, &svc, published);
        it = accounts.emplace(account_id, slot{fresh, std::move(published)}).first;
        infra::metrics().account_actors_live.fetch_add(1, std::memory_order_relaxed);
      }
      send(it->second.actor);
    }
    if (!fresh) return;
    // Attached outside the lock: CAF runs the functor at once, in this thread, when the
    // actor has already ended.
    fresh->attach_functor([this, account_id, addr = fresh.address()] {
      infra::metrics().account_actors_live.fetch_sub(1, std::memory_order_relaxed);
      evict(account_id, addr);
    });
  }

  // Removes the account's registry entry if it still belongs to `who`.
  bool evict(const std::string& account_id, const caf::actor_addr& who) {
    std::unique_lock lock(mu);
    auto it = accounts.find(account_id);
    if (it == accounts.end() || it->second.actor.address() != who) return false;
    accounts.erase(it);
    return true;
  }

  // Stops the actors the runtime spawned (the handles not spawned yet are null, and
  // ignored) and waits until every actor is done.
  void stop_actors() {
    caf::anon_send_exit(keys_handle, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(connections_handle, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(ingest_pool, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(svc.loaders, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(history, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(backups_handle, caf::exit_reason::user_shutdown);
    sys.await_all_actors_done();
  }

  // One registry entry per running account actor.
  struct slot {
    account_actor actor;
    std::shared_ptr<published_state> published;
  };

  const domain::clock& clock;
  store::db& db;
  store::event_log log;
  snapshots::snapshot_store snaps;
  loader_context loader_ctx;
  store::commit_queue commits;
  // The registry is declared before the actor system so that it outlives the system's
  // threads: CAF may run an ended actor's attached functor (which touches the registry)
  // after await_all_actors_done() has returned.
  mutable std::shared_mutex mu;
  std::unordered_map<std::string, slot> accounts;
  bool stopping = false;
  std::atomic<std::shared_ptr<const domain::key_table>> key_table;
  std::atomic<std::shared_ptr<const connection_table>> connection_table_ptr;
  // Cluster mode: how far those two tables follow the node's copy.
  table_readers readers{[this] {
    return node ? node->applied() : 0;
  }};
  batch_registry registry;
  broken_accounts broken;
  ingest_services ingest_svc;
  std::unique_ptr<caf::actor_system_config> cfg;
  caf::actor_system sys;
  services svc;
  keys_actor keys_handle;
  connections_actor connections_handle;
  caf::actor ingest_pool;
  caf::actor history;  // loaders for history reads (as_of, audit pages)
  caf::actor backups_handle;
  std::unique_ptr<chain_verifier> verifier;  // its own thread; stopped first at shutdown
  std::unique_ptr<insights_collector>
      insights;  // its own thread; its last counts written at shutdown
  // Cluster mode (null otherwise). The log is closed before the actors stop (its follower
  // thread sends to them).
  std::unique_ptr<cluster::cluster_node> node;
  std::unique_ptr<interfaces::journal> journal;  // a single node's (in cluster mode, the node's)
  std::unique_ptr<interfaces::retry_store> retries;  // likewise
  std::unique_ptr<interfaces::placement> placement;  // likewise
  // Set once the keys and connections actors exist (the follower runs before).
  std::atomic<bool> records_actors_ready{false};
  std::once_flag shutdown_once;
};

runtime::runtime(store::db& db, runtime_options options)
    : impl_(std::make_unique<impl>(db, options)) {}

runtime::~runtime() { shutdown(); }

void runtime::tell(const std::string& account_id, account_request request) {
  impl_->tell(account_id, std::move(request));
}

void runtime::tell(keys_request request) {
  std::visit([&](auto&& req) { caf::anon_send(impl_->keys_handle, std::move(req)); },
             std::move(request));
}

std::shared_ptr<const domain::account_state> runtime::view(const std::string& account_id) const {
  return impl_->view(account_id);
}

std::shared_ptr<const domain::key_table> runtime::keys() const { return impl_->key_table.load(); }

void runtime::tell(connections_request request) {
  std::visit([&](auto&& req) { caf::anon_send(impl_->connections_handle, std::move(req)); },
             std::move(request));
}

void runtime::render_metrics(std::string& out) const {
  impl_->db.render_metrics(out);
  if (auto ready = this->ready(); ready.cluster) {
    // One metric family of one sample: its HELP and TYPE lines, then its value.
    auto family = [&out](std::string_view name, std::string_view type, std::string_view help,
                         const std::string& value) {
      out.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ");
      out.append(name).append(" ").append(type).append("\n");
      out.append(name).append(" ").append(value).append("\n");
    };
    family("referrald_cluster_apply_lag_seconds", "gauge",
           "How long the stream's message being applied had waited, while more were pending (0 "
           "when caught up).",
           std::to_string(ready.apply_lag_seconds));
    family("referrald_cluster_connected", "gauge", "1 while connected to a server of the cluster.",
           ready.connected ? "1" : "0");
    family("referrald_cluster_applied_seq", "gauge",
           "The last stream sequence applied on this node.", std::to_string(ready.applied));
    family("referrald_cluster_confirmed_seq", "gauge",
           "The last stream sequence applied on this node that the stream's leader confirmed it "
           "holds as applied.",
           std::to_string(ready.confirmed));
    family("referrald_cluster_copy_refills_total", "counter",
           "Times this node's data directory filled a new copy of the stream because its copy "
           "differed from the stream.",
           std::to_string(ready.copy_refills));
    if (!ready.nats_servers.empty()) {
      // A label value holds no quote, backslash or line break (what a server names itself
      // is not trusted to be plain).
      auto label = [](std::string v) {
        std::erase_if(v, [](char ch) { return ch == '"' || ch == '\\' || ch == '\n'; });
        return v;
      };
      out +=
          "# HELP referrald_cluster_nats_server_info The NATS servers of the cluster and the "
          "nats-server version each runs (2.10.23 or later recommended), read every minute.\n"
          "# TYPE referrald_cluster_nats_server_info gauge\n";
      for (const auto& server : ready.nats_servers) {
        out += "referrald_cluster_nats_server_info{server=\"" + label(server.name) +
               "\",address=\"" + label(server.address) + "\",version=\"" + label(server.version) +
               "\"} 1\n";
      }
    }
    if (ready.replication_known) {
      family("referrald_cluster_stream_replicas", "gauge", "Replicas the cluster's stream has.",
             std::to_string(ready.replicas));
      family("referrald_cluster_stream_replicas_wanted", "gauge",
             "Replicas the stream should have (--cluster-replicas, or the cluster's size up to 3).",
             std::to_string(ready.replicas_wanted));
      family("referrald_cluster_stream_replicas_current", "gauge",
             "Replicas of the stream online and caught up with its leader (the leader included).",
             std::to_string(ready.replicas_current));
    }
  }
}

void runtime::write_details(domain::json_writer& w, const readiness& r) {
  if (r.cluster) {
    w.Key("cluster");
    w.StartObject();
    w.Key("connected");
    w.Bool(r.connected);
    w.Key("caught_up");
    w.Bool(r.caught_up);
    w.Key("applied_seq");
    w.Uint64(r.applied);
    w.Key("apply_lag_seconds");
    w.Double(r.apply_lag_seconds);
    if (r.replication_known) {
      w.Key("stream_replicas");
      w.Int(r.replicas);
      w.Key("stream_replicas_wanted");
      w.Int(r.replicas_wanted);
      w.Key("stream_replicas_current");
      w.Int(r.replicas_current);
    }
    w.EndObject();
    // What is wrong with the stream's replication: worth an operator's look, no reason to
    // take this node out of service (every node would be at once).
    if (!r.replication_problems.empty()) {
      w.Key("warnings");
      w.StartArray();
      for (const auto& why : r.replication_problems)
        domain::write_string(w, why);
      w.EndArray();
    }
  }
}

std::vector<std::string> runtime::not_ready_reasons(const readiness& r) {
  std::vector<std::string> reasons;
  if (!r.store_writable)
    reasons.emplace_back("the store does not take writes (disk full or failed)");
  if (r.cluster && !r.connected) reasons.emplace_back("not connected to the cluster");
  if (r.cluster && !r.halted.empty()) {
    reasons.push_back(r.halted);
  } else if (r.cluster && r.connected && r.leaderless_seconds > 5) {
    reasons.push_back("the stream has had no leader for " +
                      std::to_string(static_cast<long long>(r.leaderless_seconds)) +
                      " s as this node's NATS server sees it: no write can be stored");
  } else if (r.cluster && !r.caught_up) {
    reasons.emplace_back("still catching up with the cluster's stream");
  }
  return reasons;
}

void runtime::tell(ingest_request request) {
  infra::metrics().ingest_queue_depth.fetch_add(1, std::memory_order_relaxed);
  std::visit([&](auto&& req) { caf::anon_send(impl_->ingest_pool, std::move(req)); },
             std::move(request));
}

void runtime::tell(history_request request) {
  std::visit([&](auto&& req) { caf::anon_send(impl_->history, std::move(req)); },
             std::move(request));
}

void runtime::tell(backup_request request) {
  std::visit([&](auto&& req) { caf::anon_send(impl_->backups_handle, std::move(req)); },
             std::move(request));
}

std::shared_ptr<const connection_table> runtime::connections() const {
  return impl_->connection_table_ptr.load();
}

runtime::readiness runtime::ready() const {
  readiness r;
  r.store_writable = impl_->db.health() == store::store_health::writable;
  if (!impl_->node) return r;
  auto& node = *impl_->node;
  r.cluster = true;
  r.connected = node.log().connected();
  r.applied = node.applied();
  r.confirmed = node.log().confirmed();
  r.caught_up = node.caught_up();
  r.apply_lag_seconds =
      static_cast<double>(infra::metrics().cluster_apply_lag_ms.load(std::memory_order_relaxed)) /
      1000.0;
  auto rep = node.log().replication_status();
  r.replication_known = rep.known;
  r.replicas = rep.replicas;
  r.replicas_wanted = rep.wanted;
  r.replicas_current = rep.current;
  r.replication_problems = std::move(rep.problems);
  r.halted = node.log().halted();
  for (auto& server : node.log().nats_servers()) {
    r.nats_servers.push_back(
        {server.name.empty() ? server.address : server.name, server.address, server.version});
  }
  if (auto refills = node.copy().refills()) r.copy_refills = *refills;
  auto leaderless = node.log().leaderless_for();
  if (leaderless > std::chrono::milliseconds(2500)) {
    r.leaderless_seconds = static_cast<double>(leaderless.count()) / 1000.0;
  }
  return r;
}

interfaces::retry_store& runtime::retries() const { return *impl_->retries; }

interfaces::placement& runtime::placement() const { return *impl_->placement; }

std::uint64_t runtime::cluster_applied() const {
  return impl_->node ? impl_->readers.through() : 0;
}

void runtime::when_readable(const std::string& account_id, std::uint64_t event_seq,
                            std::chrono::steady_clock::time_point until,
                            std::function<void(bool)> fn) {
  auto ask_actor = [this, account_id, event_seq](std::function<void(bool)> f) {
    tell(account_id,
         await_loaded_req{make_reply([f = std::move(f)](api_result r) { f(r.ok()); }), event_seq});
  };
  auto view = impl_->view(account_id);
  if (view && view->seq() >= event_seq) return fn(true);
  if (view || !impl_->node) return ask_actor(std::move(fn));
  impl_->when_copied(account_id, event_seq, until,
                     [this, account_id, event_seq, ask_actor, fn = std::move(fn)](bool ok) {
                       auto started = impl_->view(account_id);
                       if (ok && started && started->seq() < event_seq)
                         return ask_actor(std::move(fn));
                       fn(ok);
                     });
}

void runtime::when_applied(std::uint64_t seq, std::function<void(bool)> fn) {
  if (!impl_->node) return fn(true);
  // The copy first, then the tables its records are read into.
  impl_->node->when_applied(seq, [this, seq, fn = std::move(fn)](bool ok) mutable {
    if (!ok) return fn(false);
    impl_->readers.when_through(seq, std::move(fn));
  });
}

std::size_t runtime::live_accounts() const {
  std::shared_lock lock(impl_->mu);
  return impl_->accounts.size();
}

insights_collector& runtime::insights() const { return *impl_->insights; }

void runtime::shutdown() {
  std::call_once(impl_->shutdown_once, [this] {
    impl_->verifier.reset();
    impl_->insights->flush_and_stop();
    // Finish the writes already submitted first, so their acknowledgements still reach
    // live actors; then stop every actor.
    if (impl_->node) impl_->node->stop_writers();
    impl_->close_copy_waiters();
    impl_->commits.stop();
    std::vector<account_actor> accounts;
    {
      std::unique_lock lock(impl_->mu);
      impl_->stopping = true;
      for (auto& [id, s] : impl_->accounts)
        accounts.push_back(s.actor);
    }
    for (auto& a : accounts)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    accounts.clear();
    impl_->stop_actors();
    impl_->readers.close();     // no table is read again any more
    impl_->retries.reset();     // no answer comes any more: written, and its threads stopped
    impl_->placement->close();  // out of the owners (the server that used it did so first)
    if (impl_->node) impl_->node->close();  // no follower sends any more
    // Release every actor handle while the actor system is still alive.
    std::unique_lock lock(impl_->mu);
    impl_->accounts.clear();
  });
}

}  // namespace referrald::actors
