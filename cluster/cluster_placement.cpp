#include "cluster/cluster_placement.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "cluster/cluster_forward.hpp"
#include "cluster/cluster_log.hpp"
#include "cluster/cluster_membership.hpp"
#include "infra/log.hpp"

namespace referrald::cluster {

namespace {

using interfaces::placement;

// How long a stopping node waits for a server to answer before it stops without them.
constexpr std::chrono::seconds k_stop_grace{2};

class cluster_placement final : public placement {
 public:
  cluster_placement(cluster_log& log, placement_options o, std::function<std::uint64_t()> applied,
                    const domain::clock& clock)
      : log_(log), options_(std::move(o)), applied_(std::move(applied)), clock_(clock) {}

  ~cluster_placement() override {
    leave();
    close();
  }

  std::optional<std::string> owner_elsewhere(std::string_view scope) override {
    std::shared_ptr<cluster_membership> members;
    {
      std::lock_guard lock(mu_);
      members = members_;
    }
    if (!members) return std::nullopt;
    auto owners = members->owners();
    auto p = members->partition_of(scope);
    if (!owners || p >= owners->owner.size() || owners->mine[p] || owners->owner[p].empty() ||
        passed_over(owners->owner[p])) {
      return std::nullopt;
    }
    return owners->owner[p];
  }

  std::string self() override { return cluster_membership::member_name(options_.node); }

  std::vector<std::string> others() override {
    std::shared_ptr<cluster_membership> members;
    {
      std::lock_guard lock(mu_);
      members = members_;
    }
    std::vector<std::string> out;
    if (!members) return out;
    auto owners = members->owners();
    if (!owners) return out;
    for (const auto& n : owners->nodes)
      if (n != members->node()) out.push_back(n);
    return out;
  }

  void relay(const std::string& node, std::string_view request, std::string_view remote,
             std::chrono::milliseconds take_within, std::chrono::milliseconds answer_within,
             std::function<void(relayed)> done) override {
    std::shared_ptr<cluster_forward> forwards;
    {
      std::lock_guard lock(mu_);
      forwards = forwards_;
    }
    if (!forwards) return done(relayed{});
    forwards->send(node, request, remote, take_within, answer_within,
                   [this, node, done = std::move(done)](cluster_forward::result r) {
                     relayed out;
                     switch (r.how) {
                       case cluster_forward::outcome::answered:
                         out.how = outcome::answered;
                         break;
                       case cluster_forward::outcome::not_taken:
                         out.how = outcome::not_taken;
                         break;
                       case cluster_forward::outcome::timed_out:
                         out.how = outcome::timed_out;
                         break;
                     }
                     if (out.how != outcome::answered) pass_over(node);
                     out.response = std::move(r.response);
                     out.applied = r.applied;
                     done(std::move(out));
                   });
  }

  domain::status serve(std::function<void(incoming, answer_fn)> fn) override {
    // Taking relayed writes first, then joining: a node the others see as an owner takes
    // what they send it.
    auto opened = cluster_forward::open(log_, cluster_membership::member_name(options_.node));
    if (!opened) return opened.err();
    std::shared_ptr<cluster_forward> forwards = std::move(*opened);
    auto served = forwards->serve([this, fn = std::move(fn)](cluster_forward::incoming in,
                                                             cluster_forward::answer_fn answer) {
      fn(incoming{std::move(in.request), std::move(in.remote)},
         [this, answer = std::move(answer)](std::string response) {
           answer(std::move(response), applied_());
         });
    });
    if (!served) return served;
    membership_options mo;
    mo.node = options_.node;
    mo.partitions = options_.partitions;
    mo.heartbeat = options_.heartbeat;
    mo.ttl = options_.ttl;
    auto joined = cluster_membership::join(log_, mo);
    if (!joined) {
      forwards->stop_serving();
      return domain::make_error(joined.err().code,
                                "cannot join the cluster's members: " + joined.err().message);
    }
    std::lock_guard lock(mu_);
    members_ = std::move(*joined);
    forwards_ = std::move(forwards);
    return {};
  }

  void leave() override {
    std::shared_ptr<cluster_membership> members;
    std::shared_ptr<cluster_forward> forwards;
    {
      std::lock_guard lock(mu_);
      members = members_;
      forwards = forwards_;
    }
    // A node stopping while no server answers, or whose servers stop with it, has nothing to
    // hand over: each request below (and the drains and consumer deletions of the stop) would
    // wait out its timeout, for tens of seconds in all. The others count it out when its key
    // expires.
    if ((forwards || members) && !reach_checked_.exchange(true)) {
      log_.close_when_unreachable(k_stop_grace);
    }
    if (forwards) forwards->stop_serving();
    if (members) members->leave();
  }

  void close() override {
    std::shared_ptr<cluster_membership> members;
    std::shared_ptr<cluster_forward> forwards;
    {
      std::lock_guard lock(mu_);
      members = std::exchange(members_, nullptr);
      forwards = std::exchange(forwards_, nullptr);
    }
    if (forwards) forwards->stop_serving();
    forwards.reset();  // what still waits for an owner is answered (not_taken)
    members.reset();
  }

 private:
  bool passed_over(const std::string& node) {
    std::lock_guard lock(mu_);
    auto it = passed_over_.find(node);
    if (it == passed_over_.end()) return false;
    if (clock_.steady_now() < it->second) return true;
    passed_over_.erase(it);
    return false;
  }
  void pass_over(const std::string& node) {
    std::lock_guard lock(mu_);
    passed_over_[node] = clock_.steady_now() + options_.pass_over;
  }

  cluster_log& log_;
  placement_options options_;
  std::function<std::uint64_t()> applied_;
  const domain::clock& clock_;
  std::mutex mu_;
  std::atomic<bool> reach_checked_{false};  // leave() started the watch of the connection
  std::shared_ptr<cluster_membership> members_;
  std::shared_ptr<cluster_forward> forwards_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> passed_over_;
};

}  // namespace

std::unique_ptr<placement> make_cluster_placement(cluster_log& log, placement_options o,
                                                  std::function<std::uint64_t()> applied,
                                                  const domain::clock& clock) {
  return std::make_unique<cluster_placement>(log, std::move(o), std::move(applied), clock);
}

}  // namespace referrald::cluster
