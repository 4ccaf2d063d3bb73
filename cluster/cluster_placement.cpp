#include "cluster/cluster_placement.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <nats/nats.h>
#include <net/if.h>
#include <netinet/in.h>

#include <condition_variable>
#include <thread>

#include "cluster/cluster_forward.hpp"
#include "cluster/cluster_log.hpp"
#include "cluster/cluster_membership.hpp"
#include "cluster/cluster_native.hpp"
#include "cluster/peer_frames.hpp"
#include "cluster/peer_link.hpp"
#include "domain/base/text.hpp"
#include "infra/log.hpp"
#include "infra/metrics.hpp"
#include "infra/thread_name.hpp"

namespace referrald::cluster {

namespace {

using interfaces::placement;

// How long a stopping node waits for a server to answer before it stops without them.
constexpr std::chrono::seconds k_stop_grace{2};
// The peer link takes a write only when this node heard its NATS server answer a ping
// within the last second; it pings every quarter of a second.
constexpr std::chrono::milliseconds k_linked_within{1000};
constexpr std::chrono::milliseconds k_ping_every{250};

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
    // A node that stopped applying the stream sends no write to its owner: it could not
    // answer it from its copy, and answers each write 503 itself, as its /readyz says.
    if (!members || !applying()) return std::nullopt;
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
    std::shared_ptr<cluster_membership> members;
    std::shared_ptr<peer_link> peers;
    {
      std::lock_guard lock(mu_);
      forwards = forwards_;
      members = members_;
      peers = peers_;
    }
    if (!forwards) return done(relayed{});
    std::string address = peers && members ? members->peer_of(node) : std::string();
    // A request too large for a link's frame is sent over NATS (and written by this node when
    // it is larger than the NATS servers' max_payload too).
    if (address.empty() || peer_unreachable(address) ||
        !peer_frames::request_fits(remote.size(), request.size())) {
      return relay_over_nats(*forwards, node, request, remote, take_within, answer_within,
                             std::move(done));
    }
    infra::metrics().cluster_peer_sent.fetch_add(1, std::memory_order_relaxed);
    peers->send(
        address, node, request, remote, take_within, answer_within,
        [this, forwards, node, address, request = std::string(request),
         remote = std::string(remote), take_within, answer_within,
         done = std::move(done)](peer_link::result r) mutable {
          if (r.how == peer_link::outcome::unreachable) {
            // Nothing reached the owner: the same request goes the other way.
            infra::metrics().cluster_peer_unreachable.fetch_add(1, std::memory_order_relaxed);
            pass_over_peer(address);
            return relay_over_nats(*forwards, node, request, remote, take_within, answer_within,
                                   std::move(done));
          }
          relayed out;
          out.how = r.how == peer_link::outcome::answered    ? outcome::answered
                    : r.how == peer_link::outcome::timed_out ? outcome::timed_out
                                                             : outcome::not_taken;
          if (out.how != outcome::answered) pass_over(node);
          if (r.silent) {
            // Nothing came back on an open connection: the owner's writes go over
            // NATS for a while.
            infra::metrics().cluster_peer_unreachable.fetch_add(1, std::memory_order_relaxed);
            pass_over_peer(address);
          }
          out.response = std::move(r.response);
          out.applied = r.applied;
          done(std::move(out));
        });
  }

  domain::status serve(std::function<void(incoming, answer_fn)> fn, loops on) override {
    // Taking relayed writes first, then joining: a node the others see as an owner takes
    // what they send it.
    auto opened = cluster_forward::open(log_, cluster_membership::member_name(options_.node));
    if (!opened) return opened.err();
    std::shared_ptr<cluster_forward> forwards = std::move(*opened);
    // A write relayed here, over NATS or a peer link, is run by `fn`; its answer carries
    // what this node had applied.
    auto take = [this, fn](std::string request, std::string remote,
                           std::function<void(std::string, std::uint64_t)> answer) {
      fn(incoming{std::move(request), std::move(remote)},
         [this, answer = std::move(answer)](std::string response) {
           answer(std::move(response), applied_());
         });
    };
    auto served = forwards->serve(
        [take](cluster_forward::incoming in, cluster_forward::answer_fn answer) {
          take(std::move(in.request), std::move(in.remote), std::move(answer));
        },
        // A node whose follower halted takes no write (it would answer each 503): its
        // senders write themselves, fenced, until it stops.
        [this] { return applying(); });
    if (!served) return served;
    std::shared_ptr<peer_link> peers;
    std::string advertised;
    if (!options_.peer_host.empty()) {
      start_pings();
      peer_options po;
      po.listen_host = options_.peer_host;
      po.listen_port = options_.peer_port;
      po.node = cluster_membership::member_name(options_.node);
      po.linked = [this] {
        return linked() && applying();
      };
      po.loops = std::move(on);
      auto link = peer_link::open(std::move(po));
      if (!link) {
        forwards->stop_serving();
        return link.err();
      }
      peers = std::move(*link);
      advertised =
          options_.peer_advertise.empty() ? advertise(peers->bound()) : options_.peer_advertise;
    }
    membership_options mo;
    mo.node = options_.node;
    mo.partitions = options_.partitions;
    mo.heartbeat = options_.heartbeat;
    mo.ttl = options_.ttl;
    mo.peer = advertised;
    // A node that stopped applying the stream takes no write until it stops (applying()):
    // the others own its partitions meanwhile, rather than offering it each write first.
    mo.must_leave = [this] {
      auto why = log_.halted();
      return why.empty() ? why : "it stopped applying the stream: " + why;
    };
    // The link takes writes before the others can see its address.
    mo.before_joining = [&](const std::string& secret) {
      peers->serve(secret, take);
      infra::log(infra::log_level::info,
                 "peer link: taking writes on " + peers->bound() + ", reached at " + advertised);
    };
    auto joined = cluster_membership::join(log_, mo);
    if (!joined) {
      forwards->stop_serving();
      if (peers) peers->stop_serving();
      return domain::make_error(joined.err().code,
                                "cannot join the cluster's members: " + joined.err().message);
    }
    std::lock_guard lock(mu_);
    members_ = std::move(*joined);
    forwards_ = std::move(forwards);
    peers_ = std::move(peers);
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
    if (auto peers = peers_now()) peers->stop_serving();
    if (members) members->leave();
  }

  void close() override {
    std::shared_ptr<cluster_membership> members;
    std::shared_ptr<cluster_forward> forwards;
    std::shared_ptr<peer_link> peers;
    {
      std::lock_guard lock(mu_);
      members = std::exchange(members_, nullptr);
      forwards = std::exchange(forwards_, nullptr);
      peers = std::exchange(peers_, nullptr);
    }
    if (forwards) forwards->stop_serving();
    if (peers) peers->stop_serving();
    peers.reset();     // what still waits for an owner is answered (not_taken)
    forwards.reset();  // the same
    members.reset();
    stop_pings();
  }

 private:
  // Whether this node still applies the stream (its follower has not halted).
  bool applying() const { return log_.halted().empty(); }

  void relay_over_nats(cluster_forward& forwards, const std::string& node, std::string_view request,
                       std::string_view remote, std::chrono::milliseconds take_within,
                       std::chrono::milliseconds answer_within, std::function<void(relayed)> done) {
    forwards.send(node, request, remote, take_within, answer_within,
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

  std::shared_ptr<peer_link> peers_now() {
    std::lock_guard lock(mu_);
    return peers_;
  }

  // The address to put in the members' value for a link bound to `bound`: a wildcard host
  // (0.0.0.0, [::]) is replaced by the address this node reaches its NATS server from or,
  // when that is a loopback address (a NATS server on the same machine), by the machine's
  // first IPv4 address that is not.
  std::string advertise(const std::string& bound) {
    auto split = domain::split_host_port(bound);
    if (!split || (split->host != "0.0.0.0" && split->host != "::")) return bound;
    std::string local;
    char* ip = nullptr;
    int port = 0;
    natsConnection* nc = cluster_native::connection(log_);
    if (nc != nullptr && natsConnection_GetLocalIPAndPort(nc, &ip, &port) == NATS_OK &&
        ip != nullptr) {
      local = ip;
      free(ip);
    }
    if (local.empty() || local.starts_with("127.") || local == "::1") {
      ifaddrs* all = nullptr;
      if (getifaddrs(&all) == 0) {
        for (ifaddrs* i = all; i != nullptr; i = i->ifa_next) {
          if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET ||
              (i->ifa_flags & IFF_UP) == 0 || (i->ifa_flags & IFF_LOOPBACK) != 0) {
            continue;
          }
          char text[INET_ADDRSTRLEN] = {};
          auto* in = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
          if (inet_ntop(AF_INET, &in->sin_addr, text, sizeof text) != nullptr) {
            local = text;
            break;
          }
        }
        freeifaddrs(all);
      }
    }
    if (local.empty()) return bound;
    if (local.find(':') != std::string::npos) local = "[" + local + "]";
    return local + ":" + split->port;
  }

  // Whether this node's NATS server answered a ping lately (pings_ below).
  bool linked() { return std::chrono::steady_clock::now() - last_pong_.load() < k_linked_within; }
  void start_pings() {
    last_pong_ = std::chrono::steady_clock::now();
    pinger_ = std::thread([this] {
      infra::name_thread("cluster.ping");
      natsConnection* nc = cluster_native::connection(log_);
      std::unique_lock lock(ping_mu_);
      while (!ping_stop_) {
        lock.unlock();
        if (nc != nullptr && natsConnection_FlushTimeout(nc, 500) == NATS_OK) {
          last_pong_ = std::chrono::steady_clock::now();
        }
        lock.lock();
        ping_cv_.wait_for(lock, k_ping_every, [this] { return ping_stop_; });
      }
    });
  }
  void stop_pings() {
    {
      std::lock_guard lock(ping_mu_);
      ping_stop_ = true;
    }
    ping_cv_.notify_all();
    if (pinger_.joinable()) pinger_.join();
  }

  // Owners (by name) and peer addresses passed over until a time: whether `key` still is,
  // and passing it over for `span`.
  using passed_map = std::unordered_map<std::string, std::chrono::steady_clock::time_point>;
  bool still_passed(passed_map& passed, const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = passed.find(key);
    if (it == passed.end()) return false;
    if (clock_.steady_now() < it->second) return true;
    passed.erase(it);
    return false;
  }
  void pass(passed_map& passed, const std::string& key, std::chrono::milliseconds span) {
    std::lock_guard lock(mu_);
    passed[key] = clock_.steady_now() + span;
  }
  bool passed_over(const std::string& node) { return still_passed(passed_over_, node); }
  void pass_over(const std::string& node) { pass(passed_over_, node, options_.pass_over); }
  bool peer_unreachable(const std::string& address) { return still_passed(unreachable_, address); }
  void pass_over_peer(const std::string& address) {
    pass(unreachable_, address, options_.peer_unreachable_for);
  }

  cluster_log& log_;
  placement_options options_;
  std::function<std::uint64_t()> applied_;
  const domain::clock& clock_;
  std::mutex mu_;
  std::atomic<bool> reach_checked_{false};  // leave() started the watch of the connection
  std::shared_ptr<cluster_membership> members_;
  std::shared_ptr<cluster_forward> forwards_;
  passed_map passed_over_;  // owners that did not take a write
  std::shared_ptr<peer_link> peers_;
  passed_map unreachable_;  // peer addresses that could not be reached
  std::atomic<std::chrono::steady_clock::time_point> last_pong_{};
  std::thread pinger_;
  std::mutex ping_mu_;
  std::condition_variable ping_cv_;
  bool ping_stop_ = false;
};

}  // namespace

std::unique_ptr<placement> make_cluster_placement(cluster_log& log, placement_options o,
                                                  std::function<std::uint64_t()> applied,
                                                  const domain::clock& clock) {
  return std::make_unique<cluster_placement>(log, std::move(o), std::move(applied), clock);
}

}  // namespace referrald::cluster
