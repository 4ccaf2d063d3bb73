#include "actors/runtime.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include <atomic>
#include <condition_variable>
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
#include "cluster/cluster_cache.hpp"
#include "cluster/cluster_committer.hpp"
#include "cluster/cluster_journal.hpp"
#include "cluster/cluster_log.hpp"
#include "cluster/cluster_placement.hpp"
#include "cluster/record_publisher.hpp"
#include "cluster/retry_stream.hpp"
#include "domain/base/digest.hpp"
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
  std::size_t threads = o.actor_threads != 0
                            ? o.actor_threads
                            : std::max<std::size_t>(1, std::thread::hardware_concurrency());
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
      : db(d), log(d), snaps(d), commits(d), cfg(make_config(o)), sys(*cfg) {
    // Before any actor exists: a failure here must not leave actors the system waits for.
    if (o.cluster) start_cluster(*o.cluster);
    // The other choice of the mode: where Idempotency-Key records are kept.
    retries =
        cluster_log ? cluster::make_retry_stream(*cluster_log) : store::make_local_retry_store(d);
    // And where each write is made: here, or at its owner's.
    if (cluster_log) {
      cluster::placement_options po;
      po.node = o.cluster->node_name;
      po.partitions = o.cluster->partitions;
      placement = cluster::make_cluster_placement(*cluster_log, po, [this] {
        std::lock_guard lock(catch_up_mu);
        return cluster_applied;
      });
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
  }

  void spawn_actors(const runtime_options& o, std::vector<domain::api_key> keys,
                    std::vector<domain::connection> conns) {
    svc.db = &db;
    svc.log = &log;
    // The one choice of the mode: where writes go.
    journal = cluster_log
                  ? cluster::make_cluster_journal(*cluster_log, *committer, *records, *cache, log)
                  : store::make_embedded_journal(db, log, commits);
    svc.journal = journal.get();
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
    loader_ctx = loader_context{&db, &log, &snaps, o.snapshot_every};
    svc.loaders = spawn_loader_pool(sys, loader_ctx, std::max<std::size_t>(1, o.loader_threads));
    // History reads (as_of, audit pages) fold stored events at length: they get their own
    // threads, so that an account load never waits behind one.
    history = spawn_loader_pool(sys, loader_ctx, std::max<std::size_t>(1, o.history_threads));
    backups_handle = spawn_backup_actor(sys, db);
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
    if (cluster_log) {
      caf::anon_send(keys_handle, cluster_sync_atom_v);
      caf::anon_send(connections_handle, cluster_sync_atom_v);
    }
    ingest_svc.db = &db;
    ingest_svc.journal = journal.get();
    ingest_svc.registry = &registry;
    ingest_svc.platforms = &domain::ai_platform_list::builtin();
    std::size_t workers = o.ingest_workers != 0
                              ? o.ingest_workers
                              : std::max<std::size_t>(1, std::thread::hardware_concurrency());
    ingest_pool = spawn_ingest_pool(sys, ingest_svc, workers);
    verifier = std::make_unique<chain_verifier>(db, broken, o.verify_every);
  }

  // Cluster mode: the stream, this node's copy of it, the publisher, and the follower
  // that keeps the copy up to date and tells the accounts' actors.
  void start_cluster(const runtime_options::cluster_settings& c) {
    cluster::cluster_options co;
    co.servers = c.servers;
    co.node_name = c.node_name;
    co.replicas = c.replicas;
    co.start_wait = c.start_wait;
    auto opened = cluster::cluster_log::open(co);
    if (!opened) throw std::runtime_error("cannot join the cluster: " + opened.err().message);
    cluster_log = std::move(*opened);
    cache = std::make_unique<cluster::cluster_cache>(db);
    committer = std::make_unique<cluster::cluster_committer>(*cluster_log);
    records = std::make_unique<cluster::record_publisher>(*cluster_log, 4);
    svc.copy_misfit = [this](const std::string& account_id, const std::string& why) {
      std::uint64_t at = 0;
      {
        std::lock_guard lock(catch_up_mu);
        at = cluster_applied;
      }
      copy_does_not_fit(
          at, account_id,
          "account " + account_id + "'s history here does not continue its state (" + why + ")");
    };
    auto applied = cache->applied();
    if (!applied)
      throw std::runtime_error("cannot read the node's copy of the stream: " +
                               applied.err().message);
    records->applied(*applied);
    // A copy made by release 0.3 does not know the position of each scope of records its
    // writes claim: read them from the stream, for what it has applied, before the follower
    // applies more.
    auto kept = cache->scopes_kept();
    if (!kept) {
      throw std::runtime_error("cannot read the node's copy of the stream: " + kept.err().message);
    }
    if (!*kept) {
      std::vector<std::pair<std::string, std::uint64_t>> heads;
      if (*applied > 0) {
        auto found = cluster_log->records_heads(*applied);
        if (!found) {
          throw std::runtime_error("cannot read the positions of the stream's records: " +
                                   found.err().message);
        }
        heads = std::move(*found);
      }
      if (auto st = cache->keep_scopes(heads); !st) {
        throw std::runtime_error("cannot write the node's copy of the stream: " + st.err().message);
      }
    }
    // Caught up once the copy holds what the stream held now. Both requests are retried
    // until the start wait is over: a cluster that just restarted answers them once its
    // leaders are elected.
    const auto deadline = std::chrono::steady_clock::now() + c.start_wait;
    auto until_up = [&](auto&& attempt, const char* what) {
      for (;;) {
        auto r = attempt();
        if (r || r.err().code != domain::errc::unavailable ||
            std::chrono::steady_clock::now() >= deadline) {
          if (!r) throw std::runtime_error(std::string(what) + r.err().message);
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
      }
    };
    until_up(
        [&] {
          auto target = cluster_log->last_seq();
          if (target) catch_up_target = *target;
          return target;
        },
        "cannot read the cluster's stream: ");
    cluster_applied = *applied;
    until_up(
        [&]() -> domain::result<bool> {
          auto followed = cluster_log->follow(
              *applied + 1,
              [this](domain::result<cluster::cluster_message> m) {
                on_cluster_message(std::move(m));
              },
              [this, on_diverged = c.on_copy_diverged](std::uint64_t seq) {
                // Marked first: a node stopped now fills a new copy when started again.
                if (auto st = cache->mark_diverged(seq); !st) {
                  infra::log(infra::log_level::error,
                             "cannot mark the node's copy as differing from the stream: " +
                                 st.err().message);
                }
                if (on_diverged) on_diverged();
              });
          if (!followed) return std::move(followed).err();
          return true;
        },
        "cannot follow the cluster: ");
    // Keys and connections are read from the copy next: wait (bounded) until it has them.
    // A follower that halted (a newer release's message) says why in /readyz instead.
    std::unique_lock lock(catch_up_mu);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!catch_up_cv.wait_for(lock, std::chrono::milliseconds(250),
                                 [&] { return cluster_applied >= catch_up_target; })) {
      if (!cluster_log->halted().empty()) break;
      if (std::chrono::steady_clock::now() >= give_up) {
        infra::log(infra::log_level::warn,
                   "still catching up with the cluster's stream after 60 s (at " +
                       std::to_string(cluster_applied) + " of " + std::to_string(catch_up_target) +
                       "); serving what is applied");
        break;
      }
    }
  }

  // The node's copy does not continue an account's history (a write of the stream that
  // does not fit it, or an account's state it does not continue): every write to the
  // stream is fenced and chained, so the copy differs from the stream and the node fills a
  // new one (cluster_log::diverged). Unless the copy was made anew from the stream less
  // than 10 minutes ago: then the stream's own history is at fault, and the account is
  // broken until an operator repairs it (referralctl verify names the event).
  void copy_does_not_fit(std::uint64_t seq, const std::string& account_id, const std::string& why) {
    auto rebuilt = cache->rebuilt_at();
    bool just_rebuilt = rebuilt && *rebuilt > 0 &&
                        static_cast<std::uint64_t>(domain::now_ms()) - *rebuilt <
                            static_cast<std::uint64_t>(10 * 60 * 1000);
    if (!just_rebuilt) {
      cluster_log->diverged(seq, why);
      return;
    }
    infra::log(infra::log_level::error, why);
    broken.mark(account_id, why);
  }

  // On the follower's thread, in stream order.
  void on_cluster_message(domain::result<cluster::cluster_message> m) {
    if (!m) {
      infra::log(infra::log_level::error, "the cluster's stream: " + m.err().message);
      return;
    }
    std::uint64_t seq = 0;
    if (auto* w = std::get_if<cluster::cluster_write>(&m->body)) {
      seq = w->stream_seq;
      if (auto st = cache->apply(*w); !st) {
        if (cluster::cluster_log::newer_release(st.err()) ||
            st.err().code != domain::errc::store_corrupted) {
          // Never skipped: the node waits there for its upgrade (or a store that takes the
          // write again).
          cluster_log->halt(seq, st.err());
          return;
        }
        // The write does not fit this account's copy. Every write to the stream is fenced
        // at the account's position and chained, so the copy holds what the stream does
        // not (or lacks what it holds): the node fills a new one. Unless this copy was
        // just made anew from the stream: then the stream's own history is at fault, and
        // the account is broken until an operator repairs it (referralctl verify).
        copy_does_not_fit(
            seq, w->account_id,
            "its write does not fit the history applied here (" + st.err().message + ")");
        return;
      } else {
        std::shared_lock lock(mu);
        if (auto it = accounts.find(w->account_id); it != accounts.end()) {
          // With the account's last event now in the copy: an actor that has it already
          // (its own write, acknowledged first) has nothing to read.
          caf::anon_send(it->second.actor, cluster_sync_atom_v,
                         static_cast<std::uint64_t>(w->first_seq + w->values.size() - 1));
        }
      }
    } else {
      auto& r = std::get<cluster::cluster_records>(m->body);
      seq = r.stream_seq;
      if (auto st = cache->apply(r); !st) {
        // Not applied, and nothing after it: applied again after a restart (the stream
        // keeps it).
        cluster_log->halt(seq, "cannot apply message " + std::to_string(seq) +
                                   " of the stream (records " + r.scope + "): " + st.err().message);
        return;
      }
      if (records_actors_ready.load(std::memory_order_acquire)) {
        if (r.scope == "keys" || r.scope.starts_with("keys.")) {
          caf::anon_send(keys_handle, cluster_sync_atom_v);
        } else if (r.scope.starts_with("connections.")) {
          caf::anon_send(connections_handle, cluster_sync_atom_v);
        }
      }
    }
    // Behind by how long the oldest message not yet applied has waited: this one's age
    // while more are pending, else none.
    double lag = 0;
    if (m->pending > 0 && m->published_ms > 0) {
      lag = std::max<double>(0, static_cast<double>(domain::now_ms() - m->published_ms) / 1000.0);
    }
    infra::metrics().cluster_apply_lag_ms.store(static_cast<std::int64_t>(lag * 1000),
                                                std::memory_order_relaxed);
    {
      std::lock_guard lock(catch_up_mu);
      cluster_applied = seq;
    }
    catch_up_cv.notify_all();
    records->applied(seq);
  }

  std::shared_ptr<const domain::account_state> view(const std::string& account_id) const {
    std::shared_lock lock(mu);
    auto it = accounts.find(account_id);
    if (it == accounts.end()) return nullptr;
    published_state& p = *it->second.published;
    p.touch();
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
  // Cluster mode (null otherwise). The log is closed before the actors stop (its follower
  // thread sends to them).
  std::unique_ptr<cluster::cluster_log> cluster_log;
  std::unique_ptr<cluster::cluster_cache> cache;
  std::unique_ptr<cluster::cluster_committer> committer;
  std::unique_ptr<cluster::record_publisher> records;
  std::unique_ptr<interfaces::journal> journal;      // one of the two: the store's or the stream's
  std::unique_ptr<interfaces::retry_store> retries;  // likewise
  std::unique_ptr<interfaces::placement> placement;  // likewise
  // Set once the keys and connections actors exist (the follower runs before).
  std::atomic<bool> records_actors_ready{false};
  std::mutex catch_up_mu;
  std::condition_variable catch_up_cv;
  std::uint64_t cluster_applied = 0;  // under catch_up_mu
  std::uint64_t catch_up_target = 0;  // the stream's last sequence when the node started
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

void runtime::render_store_metrics(std::string& out) const { impl_->db.render_metrics(out); }

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
  if (!impl_->cluster_log) return r;
  r.cluster = true;
  r.connected = impl_->cluster_log->connected();
  {
    std::lock_guard lock(impl_->catch_up_mu);
    r.applied = impl_->cluster_applied;
    r.caught_up = impl_->cluster_applied >= impl_->catch_up_target;
  }
  r.apply_lag_seconds =
      static_cast<double>(infra::metrics().cluster_apply_lag_ms.load(std::memory_order_relaxed)) /
      1000.0;
  auto rep = impl_->cluster_log->replication_status();
  r.replication_known = rep.known;
  r.replicas = rep.replicas;
  r.replicas_wanted = rep.wanted;
  r.replicas_current = rep.current;
  r.replication_problems = std::move(rep.problems);
  r.halted = impl_->cluster_log->halted();
  for (auto& server : impl_->cluster_log->nats_servers()) {
    r.nats_servers.push_back(
        {server.name.empty() ? server.address : server.name, server.address, server.version});
  }
  if (impl_->cache) {
    auto refills = impl_->cache->refills();
    if (refills) r.copy_refills = *refills;
  }
  auto leaderless = impl_->cluster_log->leaderless_for();
  if (leaderless > std::chrono::milliseconds(2500)) {
    r.leaderless_seconds = static_cast<double>(leaderless.count()) / 1000.0;
  }
  return r;
}

interfaces::retry_store& runtime::retries() const { return *impl_->retries; }

interfaces::placement& runtime::placement() const { return *impl_->placement; }

std::uint64_t runtime::cluster_applied() const {
  if (!impl_->cluster_log) return 0;
  std::lock_guard lock(impl_->catch_up_mu);
  return impl_->cluster_applied;
}

void runtime::when_applied(std::uint64_t seq, std::function<void(bool)> fn) {
  if (!impl_->records) return fn(true);
  impl_->records->when_applied(
      seq, [fn = std::move(fn)](const domain::result<std::uint64_t>& r) { fn(r.ok()); });
}

std::size_t runtime::live_accounts() const {
  std::shared_lock lock(impl_->mu);
  return impl_->accounts.size();
}

void runtime::shutdown() {
  std::call_once(impl_->shutdown_once, [this] {
    impl_->verifier.reset();
    // Finish the writes already submitted first, so their acknowledgements still reach
    // live actors; then stop every actor.
    if (impl_->committer) impl_->committer->stop();
    if (impl_->records) impl_->records->stop();
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
    impl_->retries.reset();      // no answer comes any more: written, and its threads stopped
    impl_->placement->close();   // out of the owners (the server that used it did so first)
    impl_->cluster_log.reset();  // no follower sends any more
    // Release every actor handle while the actor system is still alive.
    std::unique_lock lock(impl_->mu);
    impl_->accounts.clear();
  });
}

}  // namespace referrald::actors
