#include "cluster/cluster_node.hpp"

#include <algorithm>
#include <stdexcept>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "cluster/cluster_cache.hpp"
#include "cluster/cluster_committer.hpp"
#include "cluster/cluster_journal.hpp"
#include "cluster/record_publisher.hpp"
#include "infra/log.hpp"
#include "infra/metrics.hpp"
#include "store/event_log.hpp"

namespace referrald::cluster {

cluster_node::cluster_node(store::db& copy, const store::event_log& copy_log, cluster_options o,
                           const domain::clock& clock)
    : db_(copy), clock_(clock), options_(std::move(o)) {
  auto opened = cluster_log::open(options_);
  if (!opened) throw std::runtime_error("cannot join the cluster: " + opened.err().message);
  log_ = std::move(*opened);
  cache_ = std::make_unique<cluster_cache>(db_);
  committer_ = std::make_unique<cluster_committer>(*log_);
  records_ = std::make_unique<record_publisher>(*log_, 4);
  journal_ = make_cluster_journal(*log_, *committer_, *records_, *cache_, copy_log);
  auto applied = cache_->applied();
  if (!applied)
    throw std::runtime_error("cannot read the node's copy of the stream: " + applied.err().message);
  records_->applied(*applied);
  applied_ = *applied;
  // A copy made by release 0.3 does not know the position of each scope of records its
  // writes claim: read them from the stream, for what it has applied, before the follower
  // applies more.
  auto kept = cache_->scopes_kept();
  if (!kept) {
    throw std::runtime_error("cannot read the node's copy of the stream: " + kept.err().message);
  }
  if (!*kept) {
    std::vector<std::pair<std::string, std::uint64_t>> heads;
    if (*applied > 0) {
      auto found = log_->records_heads(*applied);
      if (!found) {
        throw std::runtime_error("cannot read the positions of the stream's records: " +
                                 found.err().message);
      }
      heads = std::move(*found);
    }
    if (auto st = cache_->keep_scopes(heads); !st) {
      throw std::runtime_error("cannot write the node's copy of the stream: " + st.err().message);
    }
  }
}

cluster_node::~cluster_node() {
  stop_writers();
  close();
}

void cluster_node::start(node_hooks hooks) {
  hooks_ = std::move(hooks);
  // Caught up once the copy holds what the stream held now. Both requests are retried
  // until the start wait is over: a cluster that just restarted answers them once its
  // leaders are elected.
  const auto deadline = clock_.steady_now() + options_.start_wait;
  auto until_up = [&](auto&& attempt, const char* what) {
    for (;;) {
      auto r = attempt();
      if (r || r.err().code != domain::errc::unavailable || clock_.steady_now() >= deadline) {
        if (!r) throw std::runtime_error(std::string(what) + r.err().message);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
  };
  std::uint64_t from = 0;
  {
    std::lock_guard lock(mu_);
    from = applied_;
  }
  until_up(
      [&] {
        auto target = log_->last_seq();
        if (target) {
          std::lock_guard lock(mu_);
          target_ = *target;
        }
        return target;
      },
      "cannot read the cluster's stream: ");
  until_up(
      [&]() -> domain::result<bool> {
        auto followed = log_->follow(
            from + 1, [this](domain::result<cluster_message> m) { on_message(std::move(m)); },
            [this](std::uint64_t seq) {
              // Marked first: a node stopped now fills a new copy when started again.
              if (auto st = cache_->mark_diverged(seq); !st) {
                infra::log(infra::log_level::error,
                           "cannot mark the node's copy as differing from the stream: " +
                               st.err().message);
              }
              if (hooks_.copy_diverged) hooks_.copy_diverged();
            },
            [this] { commit_group(); });
        if (!followed) return std::move(followed).err();
        return true;
      },
      "cannot follow the cluster: ");
  // The layer above reads keys and connections from the copy next: wait (bounded) until it
  // has them. A follower that halted (a newer release's message) says why in /readyz
  // instead.
  std::unique_lock lock(mu_);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!caught_up_cv_.wait_for(lock, std::chrono::milliseconds(250),
                                 [&] { return applied_ >= target_; })) {
    if (!log_->halted().empty()) break;
    if (std::chrono::steady_clock::now() >= give_up) {
      infra::log(infra::log_level::warn,
                 "still catching up with the cluster's stream after 60 s (at " +
                     std::to_string(applied_) + " of " + std::to_string(target_) +
                     "); serving what is applied");
      break;
    }
  }
}

std::uint64_t cluster_node::applied() const {
  std::lock_guard lock(mu_);
  return applied_;
}

bool cluster_node::caught_up() const {
  std::lock_guard lock(mu_);
  return applied_ >= target_;
}

void cluster_node::when_applied(std::uint64_t seq, std::function<void(bool)> fn) {
  records_->when_applied(
      seq, [fn = std::move(fn)](const domain::result<std::uint64_t>& r) { fn(r.ok()); });
}

void cluster_node::copy_does_not_fit(const std::string& account, const std::string& why) {
  does_not_fit(applied(), account,
               "account " + account + "'s history here does not continue its state (" + why + ")");
}

// The node's copy does not continue an account's history (a write of the stream that does
// not fit it, or an account's state it does not continue): every write to the stream is
// fenced and chained, so the copy differs from the stream and the node fills a new one
// (cluster_log::diverged). Unless the copy was made anew from the stream less than 10
// minutes ago: then the stream's own history is at fault.
void cluster_node::does_not_fit(std::uint64_t seq, const std::string& account,
                                const std::string& why) {
  auto rebuilt = cache_->rebuilt_at();
  bool just_rebuilt = rebuilt && *rebuilt > 0 &&
                      static_cast<std::uint64_t>(clock_.now_ms()) - *rebuilt <
                          static_cast<std::uint64_t>(10 * 60 * 1000);
  if (!just_rebuilt) {
    log_->diverged(seq, why);
    return;
  }
  infra::log(infra::log_level::error, why);
  if (hooks_.account_broken) hooks_.account_broken(account, why);
}

// On the follower's thread, in stream order: each message joins the copy's open group,
// which is written when the follower holds no next message (or the group is large), and
// the layer above is told of the group's messages once the copy has them.
void cluster_node::on_message(domain::result<cluster_message> m) {
  if (!m) {
    infra::log(infra::log_level::error, "the cluster's stream: " + m.err().message);
    return;
  }
  std::uint64_t seq = 0;
  if (auto* w = std::get_if<cluster_write>(&m->body)) {
    seq = w->stream_seq;
    auto events = std::make_shared<std::vector<domain::event>>();
    bool repeated = false;
    if (auto st = cache_->add(*w, events.get(), &repeated); !st) {
      commit_group();  // what came before it is applied
      if (cluster_log::newer_release(st.err()) || st.err().code != domain::errc::store_corrupted) {
        // Never skipped: the node waits there for its upgrade (or a store that takes the
        // write again).
        log_->halt(seq, st.err());
        return;
      }
      // The write does not fit this account's copy. Every write to the stream is fenced at
      // the account's position and chained, so the copy holds what the stream does not (or
      // lacks what it holds): the node fills a new one.
      does_not_fit(seq, w->account_id,
                   "its write does not fit the history applied here (" + st.err().message + ")");
      return;
    }
    if (repeated) {
      infra::log(infra::log_level::warn,
                 "message " + std::to_string(seq) + " of the stream repeats events " +
                     std::to_string(w->first_seq) + ".." +
                     std::to_string(w->first_seq + w->values.size() - 1) + " of account " +
                     w->account_id +
                     ", which this node applied before (a write published again without its "
                     "fence; no node does): not applied again");
    }
    group_.push_back(applied_message{seq, w->account_id, w->first_seq + w->values.size() - 1, false,
                                     std::move(events)});
  } else {
    auto& r = std::get<cluster_records>(m->body);
    seq = r.stream_seq;
    if (auto st = cache_->add(r); !st) {
      commit_group();
      // Not applied, and nothing after it: applied again after a restart (the stream keeps
      // it).
      log_->halt(seq, "cannot apply message " + std::to_string(seq) + " of the stream (records " +
                          r.scope + "): " + st.err().message);
      return;
    }
    group_.push_back(applied_message{seq, r.scope, 0, true, nullptr});
  }
  // Behind by how long the oldest message not yet applied has waited: this one's age while
  // more are pending, else none.
  double lag = 0;
  if (m->pending > 0 && m->published_ms > 0) {
    lag = std::max<double>(0, static_cast<double>(clock_.now_ms() - m->published_ms) / 1000.0);
  }
  infra::metrics().cluster_apply_lag_ms.store(static_cast<std::int64_t>(lag * 1000),
                                              std::memory_order_relaxed);
  if (!m->more_queued || cache_->grouped() >= k_group_messages ||
      cache_->grouped_bytes() >= k_group_bytes) {
    commit_group();
  }
}

void cluster_node::commit_group() {
  if (group_.empty()) return;
  if (auto st = cache_->commit(); !st) {
    // Nothing of the group is in the copy: the node waits at its first message (applied
    // again after a restart, from what the copy holds).
    std::uint64_t first = group_.front().seq;
    group_.clear();
    log_->halt(first, st.err());
    return;
  }
  for (const auto& a : group_) {
    if (a.records) {
      if (hooks_.records_applied) hooks_.records_applied(a.name, a.seq);
    } else if (hooks_.account_applied) {
      // With the account's last event now in the copy: an actor that has it already (its
      // own write, acknowledged first) has nothing to read.
      hooks_.account_applied(a.name, a.last_event, a.events);
    }
  }
  std::uint64_t last = group_.back().seq;
  group_.clear();
  {
    std::lock_guard lock(mu_);
    applied_ = last;
  }
  caught_up_cv_.notify_all();
  records_->applied(last);
}

void cluster_node::stop_writers() {
  if (committer_) committer_->stop();
  if (records_) records_->stop();
}

void cluster_node::close() { log_.reset(); }

}  // namespace referrald::cluster
