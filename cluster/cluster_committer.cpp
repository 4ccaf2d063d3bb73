#include "cluster/cluster_committer.hpp"

#include "infra/thread_name.hpp"

#include <algorithm>

namespace referrald::cluster {

namespace {

constexpr std::size_t k_group_bytes = 4u << 20;

domain::error stopping() {
  return domain::make_error(domain::errc::unavailable, "the node is stopping");
}

}  // namespace

cluster_committer::cluster_committer(cluster_log& log) : log_(log) {
  dispatcher_ = std::thread([this] {
    infra::name_thread("cluster.commit");
    run();
  });
}

cluster_committer::~cluster_committer() { stop(); }

void cluster_committer::fail_queued(account_queue& q, const domain::error& e,
                                    std::vector<std::pair<done_fn, domain::error>>& out) {
  for (auto& p : q.queued)
    out.emplace_back(std::move(p.done), e);
  q.queued.clear();
}

std::optional<std::uint64_t> cluster_committer::beaten_at(const std::string& account_id) {
  std::lock_guard lock(mu_);
  auto it = accounts_.find(account_id);
  if (it == accounts_.end()) return std::nullopt;
  return it->second.beaten_at;
}

void cluster_committer::reset(const std::string& account_id, std::uint64_t stream_head) {
  std::lock_guard lock(mu_);
  auto& q = accounts_[account_id];
  q.head = stream_head;
  q.failure.reset();
  q.beaten_at.reset();
}

void cluster_committer::submit(const std::string& account_id, std::uint64_t first_seq,
                               std::vector<std::string> values, done_fn done) {
  std::optional<domain::error> refused;
  std::optional<batch> ready;
  {
    std::lock_guard lock(mu_);
    auto& q = accounts_[account_id];
    if (stopping_) {
      refused = stopping();
    } else if (q.failure) {
      refused = *q.failure;
    } else if (!q.head) {
      refused = domain::make_error(
          domain::errc::unavailable,
          "account " + account_id + " has not caught up with the cluster's stream yet");
    } else {
      q.queued.push_back(pending{first_seq, std::move(values), std::move(done)});
      // Nothing of the account in flight: published on this thread, without a hand-off
      // to the dispatcher (which only takes over an account's next batch from the
      // acknowledgement handler).
      if (q.in_flight || q.in_turns) return;
      ready = take_batch(account_id, q);
    }
  }
  if (refused) return done(*refused);
  if (ready) publish(std::move(*ready));
}

std::optional<cluster_committer::batch> cluster_committer::take_batch(const std::string& account,
                                                                      account_queue& q) {
  if (q.queued.empty() || q.in_flight || !q.head) return std::nullopt;
  // What the actor submitted since the last write: one message, as long as the sequence
  // numbers run on (they always do; a gap would end the group).
  batch b;
  b.expected = *q.head;
  b.write.account_id = account;
  b.write.first_seq = q.queued.front().first_seq;
  std::size_t bytes = 0;
  std::uint64_t next_seq = b.write.first_seq;
  while (!q.queued.empty() && (b.dones.empty() || bytes < k_group_bytes)) {
    pending& next = q.queued.front();
    if (next.first_seq != next_seq) break;
    next_seq += next.values.size();
    for (auto& v : next.values) {
      bytes += v.size();
      b.write.values.push_back(std::move(v));
    }
    b.dones.push_back(std::move(next.done));
    q.queued.pop_front();
  }
  q.in_flight = true;
  ++in_flight_;
  return b;
}

void cluster_committer::publish(batch b) {
  // Published without waiting; the outcome comes on a thread of the client's, which hands
  // the account's next batch to the dispatcher.
  std::string account = b.write.account_id;
  log_.append_async(std::move(b.write), b.expected,
                    [this, account = std::move(account), expected = b.expected,
                     dones = std::move(b.dones)](const domain::result<std::uint64_t>& stored) {
                      on_stored(account, expected, dones, stored);
                    });
}

void cluster_committer::run() {
  for (;;) {
    std::optional<batch> ready;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !turns_.empty(); });
      if (turns_.empty()) return;  // stopping, nothing ready
      std::string account = std::move(turns_.front());
      turns_.pop_front();
      auto& q = accounts_[account];
      q.in_turns = false;
      ready = take_batch(account, q);
    }
    if (ready) publish(std::move(*ready));
  }
}

void cluster_committer::on_stored(const std::string& account, std::uint64_t expected,
                                  const std::vector<done_fn>& dones,
                                  const domain::result<std::uint64_t>& stored) {
  std::vector<std::pair<done_fn, domain::error>> failed;
  {
    std::lock_guard lock(mu_);
    auto& q = accounts_[account];
    q.in_flight = false;
    if (stored) {
      q.head = *stored;
      if (stopping_) {
        fail_queued(q, stopping(), failed);
      } else if (!q.queued.empty()) {
        q.in_turns = true;
        turns_.push_back(account);
        cv_.notify_one();
      }
    } else {
      // Everything queued was built on this write.
      q.failure = stored.err();
      if (stored.err().code == domain::errc::beaten) q.beaten_at = expected;
      q.head.reset();
      fail_queued(q, stored.err(), failed);
    }
  }
  for (const auto& done : dones)
    done(stored);
  for (auto& [done, e] : failed)
    done(domain::result<std::uint64_t>(e));
  // Counted out only now: stop() returns once no callback of a write can still run (they
  // reach actors, which are stopped after it).
  {
    std::lock_guard lock(mu_);
    if (--in_flight_ == 0 && stopping_) drained_.notify_all();
  }
}

void cluster_committer::stop() {
  std::vector<std::pair<done_fn, domain::error>> failed;
  {
    std::unique_lock lock(mu_);
    if (stopping_ && !dispatcher_.joinable()) return;
    stopping_ = true;
    for (auto& [account, q] : accounts_)
      if (!q.in_flight) fail_queued(q, stopping(), failed);
    turns_.clear();
  }
  cv_.notify_all();
  if (dispatcher_.joinable()) dispatcher_.join();
  {
    // The writes in flight finish (each is acknowledged or given up within the publish
    // timeout).
    std::unique_lock lock(mu_);
    drained_.wait(lock, [this] { return in_flight_ == 0; });
  }
  for (auto& [done, e] : failed)
    done(domain::result<std::uint64_t>(e));
}

}  // namespace referrald::cluster
