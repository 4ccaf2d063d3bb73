#include "cluster/cluster_membership.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "cluster/cluster_native.hpp"
#include "domain/base/clock.hpp"
#include "domain/base/json.hpp"
#include "domain/base/json_scan.hpp"
#include "domain/base/random.hpp"
#include "domain/base/text.hpp"
#include "infra/log.hpp"
#include "infra/metrics.hpp"
#include "infra/thread_name.hpp"

namespace referrald::cluster {

namespace {

constexpr std::string_view k_node_prefix = "node.";
constexpr const char* k_partitions_key = "partitions";
constexpr const char* k_peer_secret_key = "peer-secret";

// The "peer" of a member's value, as join() writes it; "" when it has none or it is not an
// address (the bucket is open to whoever holds the servers' credentials).
std::string peer_in_value(std::string_view value) {
  std::vector<domain::json_member> members;
  if (!domain::scan_object(value, members)) return {};
  for (const auto& m : members) {
    if (m.key != "peer" || m.key_escaped) continue;
    if (m.kind != domain::json_kind::string || m.value_escaped ||
        !cluster_membership::peer_address_ok(m.value)) {
      return {};
    }
    return std::string(m.value);
  }
  return {};
}

// A member's value: its name, when it joined, and its peer address when it has one.
std::string member_value(const std::string& node, const std::string& peer) {
  rapidjson::StringBuffer buf;
  domain::json_writer w(buf);
  w.StartObject();
  domain::write_key(w, "node");
  domain::write_string(w, node);
  domain::write_key(w, "since_ms");
  w.Int64(domain::now_ms());
  if (!peer.empty()) {
    domain::write_key(w, "peer");
    domain::write_string(w, peer);
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

// 32 random bytes as 64 hexadecimal digits.
std::string random_secret() {
  char bytes[32];
  domain::random_bytes(reinterpret_cast<unsigned char*>(bytes), sizeof bytes);
  return domain::to_hex(std::string_view(bytes, sizeof bytes));
}

std::uint64_t fnv1a64(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

domain::error kv_error(std::string_view what, natsStatus s, jsErrCode code = jsErrCode(0)) {
  std::string message =
      "the cluster's membership bucket: " + std::string(what) + ": " + natsStatus_GetText(s);
  if (code != 0) message += " (JetStream error " + std::to_string(static_cast<int>(code)) + ")";
  return domain::make_error(domain::errc::unavailable, message);
}

// Binds the bucket `name`, or makes it (file storage, history 1, `replicas`, values kept
// `ttl`; 0: for ever) when the cluster has none.
domain::result<kvStore*> bucket(jsCtx* js, const std::string& name, int replicas,
                                std::chrono::milliseconds ttl) {
  kvConfig cfg;
  kvConfig_Init(&cfg);
  cfg.Bucket = name.c_str();
  cfg.History = 1;
  cfg.StorageType = js_FileStorage;
  cfg.Replicas = replicas;
  cfg.TTL = std::chrono::duration_cast<std::chrono::nanoseconds>(ttl).count();
  kvStore* kv = nullptr;
  natsStatus s = js_KeyValue(&kv, js, cfg.Bucket);
  if (s == NATS_OK) return kv;
  s = js_CreateKeyValue(&kv, js, &cfg);
  if (s == NATS_OK) return kv;
  // Another node made it meanwhile.
  if (js_KeyValue(&kv, js, cfg.Bucket) == NATS_OK) return kv;
  return kv_error(std::string("opening ") + cfg.Bucket, s);
}

}  // namespace

struct cluster_membership::impl {
  kvStore* nodes = nullptr;
  kvWatcher* watcher = nullptr;
  // How the bucket was made (join), to make it again when it is deleted (put).
  jsCtx* js = nullptr;
  std::string bucket_name;
  int replicas = 1;
  std::chrono::milliseconds bucket_ttl{0};
  bool put_failing = false;
  std::string key;  // "node.<name>"
  std::string value;
  cluster_membership* owner = nullptr;
  std::function<void(const table&)> on_change;

  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::atomic<bool> left{false};
  std::thread thread;

  // The watch's view: node -> when its key was last put (steady clock).
  std::map<std::string, std::chrono::steady_clock::time_point> seen;
  // node -> the peer address in its value, as the watch last saw it; swapped whole.
  std::map<std::string, std::string> peers;
  std::atomic<std::shared_ptr<const std::map<std::string, std::string>>> peers_view{
      std::make_shared<const std::map<std::string, std::string>>()};
  std::chrono::steady_clock::time_point last_entry{};
  std::vector<std::string> live;  // as last published

  ~impl() {
    if (watcher != nullptr) {
      kvWatcher_Stop(watcher);
      kvWatcher_Destroy(watcher);
    }
    if (nodes != nullptr) kvStore_Destroy(nodes);
  }

  void put() {
    std::uint64_t rev = 0;
    natsStatus s = kvStore_PutString(&rev, nodes, key.c_str(), value.c_str());
    // No stream answers for the bucket: it was deleted (by hand: the nodes never delete it).
    // It is made again as join made it, watched anew, and the key put into it; the other
    // nodes put theirs at their next heartbeat. A bucket that exists but cannot take the put
    // (no quorum) times out instead, and is left to recover.
    if (s == NATS_NO_RESPONDERS && remake()) {
      s = kvStore_PutString(&rev, nodes, key.c_str(), value.c_str());
    }
    if (s == NATS_OK) {
      if (std::exchange(put_failing, false)) {
        infra::log(infra::log_level::info, "membership: " + key + " is put again");
      }
      return;
    }
    if (!std::exchange(put_failing, true)) {
      infra::log(infra::log_level::warn,
                 "membership: cannot put " + key + " in " + bucket_name + " (" +
                     natsStatus_GetText(s) + "): the other nodes count this node out " +
                     std::to_string(bucket_ttl.count()) + " ms after its last put");
    }
  }

  // The bucket made again and watched; false when it cannot be made.
  bool remake() {
    auto made = bucket(js, bucket_name, replicas, bucket_ttl);
    if (!made) {
      infra::log(infra::log_level::warn,
                 "membership: the bucket " + bucket_name +
                     " is gone and cannot be made again: " + made.err().message);
      return false;
    }
    infra::log(infra::log_level::warn, "membership: the bucket " + bucket_name +
                                           " was gone (deleted by hand?); it is made again");
    if (watcher != nullptr) {
      kvWatcher_Stop(watcher);
      kvWatcher_Destroy(watcher);
      watcher = nullptr;
    }
    kvStore_Destroy(nodes);
    nodes = *made;
    watch();
    return true;
  }

  bool watch() {
    if (watcher != nullptr) {
      kvWatcher_Stop(watcher);
      kvWatcher_Destroy(watcher);
      watcher = nullptr;
    }
    kvWatchOptions wo;
    kvWatchOptions_Init(&wo);
    natsStatus s = kvStore_Watch(&watcher, nodes, "node.>", &wo);
    if (s != NATS_OK) {
      watcher = nullptr;
      return false;
    }
    last_entry = std::chrono::steady_clock::now();
    return true;
  }

  // Waits `wait`, or until the thread is stopped: after a failure that comes at once (the
  // connection closed by a node that stops without its servers), so the loop does not spin.
  void pause(std::chrono::milliseconds wait) {
    std::unique_lock lock(mu);
    cv.wait_for(lock, wait, [this] { return stopping; });
  }

  // Takes what the watch has for at most `wait`.
  void take(std::chrono::milliseconds wait) {
    if (watcher == nullptr && !watch()) return pause(wait);
    kvEntry* e = nullptr;
    natsStatus s = kvWatcher_Next(&e, watcher, wait.count());
    auto now = std::chrono::steady_clock::now();
    if (s == NATS_TIMEOUT) return;
    if (s != NATS_OK) {
      if (!watch()) pause(wait);
      return;
    }
    last_entry = now;
    if (e == nullptr) return;  // the end of the values the bucket had
    std::string_view k = kvEntry_Key(e);
    if (k.starts_with(k_node_prefix)) {
      std::string name(k.substr(k_node_prefix.size()));
      if (kvEntry_Operation(e) == kvOp_Put) {
        // A value put before the watch began is as old as the bucket says.
        auto age_ns = domain::now_ms() * 1000000 - kvEntry_Created(e);
        auto age = std::chrono::nanoseconds(std::max<std::int64_t>(0, age_ns));
        seen[name] = now - std::chrono::duration_cast<std::chrono::steady_clock::duration>(age);
        const void* data = kvEntry_Value(e);
        std::string peer = peer_in_value(std::string_view(
            static_cast<const char*>(data), data != nullptr ? kvEntry_ValueLen(e) : 0));
        set_peer(name, std::move(peer));
      } else {
        seen.erase(name);
        set_peer(name, {});
      }
    }
    kvEntry_Destroy(e);
  }

  void set_peer(const std::string& name, std::string peer) {
    auto it = peers.find(name);
    if (peer.empty() ? it == peers.end() : it != peers.end() && it->second == peer) return;
    if (peer.empty()) {
      peers.erase(it);
    } else {
      peers[name] = std::move(peer);
    }
    peers_view.store(std::make_shared<const std::map<std::string, std::string>>(peers));
  }

  std::vector<std::string> live_now(std::chrono::milliseconds ttl) {
    auto now = std::chrono::steady_clock::now();
    std::vector<std::string> out;
    for (auto it = seen.begin(); it != seen.end();) {
      if (now - it->second > ttl) {
        it = seen.erase(it);
      } else {
        out.push_back(it->first);
        ++it;
      }
    }
    std::string self = key.substr(k_node_prefix.size());
    if (left) {
      std::erase(out, self);
    } else if (std::find(out.begin(), out.end(), self) == out.end()) {
      out.push_back(self);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  void run(const membership_options& o) {
    auto next_put = std::chrono::steady_clock::now() + o.heartbeat;
    for (;;) {
      {
        std::unique_lock lock(mu);
        if (stopping) return;
      }
      auto now = std::chrono::steady_clock::now();
      // Asked on every turn (a flag's read): a node leaves within 200 ms of its reason.
      if (!left && o.must_leave) {
        if (auto why = o.must_leave(); !why.empty()) {
          infra::log(infra::log_level::warn,
                     "membership: this node leaves the cluster's members, the others own its "
                     "partitions: " +
                         why);
          owner->leave();
          continue;
        }
      }
      if (!left && now >= next_put) {
        put();
        next_put = now + o.heartbeat;
      }
      take(std::chrono::milliseconds(200));
      // The node's own puts come back through the watch every heartbeat: a watch silent
      // for three of them was lost (a reconnection) and is made again.
      if (!left && std::chrono::steady_clock::now() - last_entry > 3 * o.heartbeat) watch();
      // After leave() too: a node that left while it runs on (must_leave) still sees the
      // others come and go, without itself (live_now).
      auto nodes_now = live_now(o.ttl);
      if (nodes_now != live) {
        live = nodes_now;
        owner->publish(live);
      }
    }
  }
};

cluster_membership::cluster_membership(std::unique_ptr<impl> p, membership_options o,
                                       std::uint32_t partitions, std::string peer_secret)
    : impl_(std::move(p)),
      options_(std::move(o)),
      partitions_(partitions),
      peer_secret_(std::move(peer_secret)) {
  impl_->owner = this;
}

cluster_membership::~cluster_membership() {
  leave();
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

domain::result<std::unique_ptr<cluster_membership>> cluster_membership::join(cluster_log& log,
                                                                             membership_options o) {
  jsCtx* js = cluster_native::jetstream(log);
  const auto& lo = cluster_native::options(log);
  int replicas = std::max(1, log.wanted_replicas());

  // A bucket just made elects its leader a moment later: each step is tried again until
  // the start wait (at least 10 s) is over.
  auto deadline = std::chrono::steady_clock::now() +
                  std::max<std::chrono::milliseconds>(lo.start_wait, std::chrono::seconds(10));
  auto again = [&](auto step) {
    for (;;) {
      auto r = step();
      if (r || std::chrono::steady_clock::now() >= deadline) return r;
      nats_Sleep(250);
    }
  };

  auto config = again(
      [&] { return bucket(js, lo.stream + "_CONFIG", replicas, std::chrono::milliseconds(0)); });
  if (!config) return std::move(config).err();
  // A value of the cluster's: put by the first node (created only if absent), read by every
  // other.
  auto first_or_stored = [&](const char* key, const std::string& first,
                             const char* what) -> domain::result<std::string> {
    std::uint64_t rev = 0;
    kvStore_CreateString(&rev, *config, key, first.c_str());
    kvEntry* e = nullptr;
    natsStatus s = kvStore_Get(&e, *config, key);
    if (s != NATS_OK) return kv_error(std::string("reading ") + what, s);
    std::string value = kvEntry_ValueString(e);
    kvEntry_Destroy(e);
    return value;
  };
  auto stored = again([&] {
    return first_or_stored(k_partitions_key, std::to_string(o.partitions),
                           "the number of partitions");
  });
  // The peer links' secret, when this node has a peer link.
  auto secret = again([&]() -> domain::result<std::string> {
    if (o.peer.empty()) return std::string();
    return first_or_stored(k_peer_secret_key, random_secret(), "the peer secret");
  });
  kvStore_Destroy(*config);
  if (!stored) return std::move(stored).err();
  if (!secret) return std::move(secret).err();
  if (!o.peer.empty() && o.before_joining) o.before_joining(*secret);
  unsigned long n = 0;
  try {
    n = std::stoul(*stored);
  } catch (...) {
    n = 0;
  }
  if (n == 0 || n > 65536) {
    return domain::make_error(domain::errc::internal,
                              "the cluster's number of partitions is not a number from 1 to "
                              "65536: '" +
                                  *stored + "'");
  }
  std::uint32_t partitions = static_cast<std::uint32_t>(n);
  if (partitions != o.partitions) {
    infra::log(infra::log_level::warn, "the cluster has " + std::to_string(partitions) +
                                           " partitions (--cluster-partitions " +
                                           std::to_string(o.partitions) +
                                           " applies only to a new cluster)");
  }

  auto p = std::make_unique<impl>();
  p->js = js;
  p->bucket_name = lo.stream + "_NODES";
  p->replicas = replicas;
  p->bucket_ttl = o.ttl;
  auto nodes = again([&] { return bucket(js, p->bucket_name, replicas, o.ttl); });
  if (!nodes) return std::move(nodes).err();
  p->nodes = *nodes;
  o.node = member_name(o.node);
  p->key = std::string(k_node_prefix) + o.node;
  p->value = member_value(o.node, o.peer);
  // A node that cannot be a member already (its follower halted as it caught up) never puts
  // its key: it watches the others, and owns nothing.
  std::string why = o.must_leave ? o.must_leave() : std::string();
  if (!why.empty()) {
    p->left = true;
    infra::log(infra::log_level::warn,
               "membership: this node does not join the cluster's members: " + why);
  } else {
    auto put = again([&]() -> domain::status {
      std::uint64_t rev = 0;
      natsStatus s = kvStore_PutString(&rev, p->nodes, p->key.c_str(), p->value.c_str());
      if (s != NATS_OK) return kv_error("putting this node's key", s);
      return {};
    });
    if (!put) return std::move(put).err();
  }
  if (!p->watch()) return kv_error("watching the bucket", NATS_ERR);

  std::unique_ptr<cluster_membership> m(
      new cluster_membership(std::move(p), o, partitions, std::move(*secret)));
  impl& i = *m->impl_;
  // The values the bucket has (up to the end marker, or half a second).
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  while (std::chrono::steady_clock::now() < until) {
    auto before = i.last_entry;
    i.take(std::chrono::milliseconds(100));
    if (i.last_entry == before) break;  // nothing more came
  }
  i.live = i.live_now(o.ttl);
  m->publish(i.live);
  i.thread = std::thread([&i, o] {
    infra::name_thread("cluster.members");
    i.run(o);
  });
  return m;
}

std::string cluster_membership::member_name(std::string_view node) {
  std::string out;
  for (char c : node) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    out += ok ? c : '_';
  }
  if (out.empty()) out = "_";
  return out;
}

std::uint32_t cluster_membership::partition_of(std::string_view scope, std::uint32_t partitions) {
  return static_cast<std::uint32_t>(fnv1a64(scope) % partitions);
}

std::string cluster_membership::owner_among(const std::vector<std::string>& nodes,
                                            std::uint32_t partition) {
  std::string best;
  std::uint64_t best_weight = 0;
  std::uint64_t salt = (static_cast<std::uint64_t>(partition) + 1) * 0x9e3779b97f4a7c15ULL;
  for (const auto& n : nodes) {
    std::uint64_t w = mix64(fnv1a64(n) ^ salt);
    if (best.empty() || w > best_weight || (w == best_weight && n < best)) {
      best = n;
      best_weight = w;
    }
  }
  return best;
}

bool cluster_membership::owns(std::uint32_t partition) const {
  auto t = table_.load();
  return t && partition < t->mine.size() && t->mine[partition];
}

bool cluster_membership::peer_address_ok(std::string_view address) {
  if (address.empty() || address.size() > 300) return false;
  for (char c : address) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == ':' || c == '-' || c == '[' || c == ']' || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::string cluster_membership::peer_of(const std::string& node) const {
  auto view = impl_->peers_view.load();
  auto it = view->find(node);
  return it == view->end() ? std::string() : it->second;
}

void cluster_membership::on_change(std::function<void(const table&)> fn) {
  std::lock_guard lock(publish_mu_);
  impl_->on_change = std::move(fn);
  if (auto t = table_.load(); t && impl_->on_change) impl_->on_change(*t);
}

void cluster_membership::publish(std::vector<std::string> nodes) {
  std::lock_guard lock(publish_mu_);
  // A node that left owns nothing, whichever thread saw it live last.
  if (impl_->left.load()) std::erase(nodes, options_.node);
  auto t = std::make_shared<table>();
  t->owner.resize(partitions_);
  t->mine.resize(partitions_);
  std::size_t mine = 0;
  for (std::uint32_t p = 0; p < partitions_; ++p) {
    t->owner[p] = owner_among(nodes, p);
    t->mine[p] = t->owner[p] == options_.node;
    mine += t->mine[p] ? 1 : 0;
  }
  t->nodes = std::move(nodes);
  infra::metrics().cluster_members.store(static_cast<std::int64_t>(t->nodes.size()));
  infra::metrics().cluster_partitions_owned.store(static_cast<std::int64_t>(mine));
  std::string names;
  for (const auto& n : t->nodes)
    names += (names.empty() ? "" : ", ") + n;
  infra::log(infra::log_level::info, "cluster members: " + names + "; this node owns " +
                                         std::to_string(mine) + " of " +
                                         std::to_string(partitions_) + " partitions");
  table_.store(t);
  if (impl_->on_change) impl_->on_change(*t);
}

void cluster_membership::leave() {
  if (impl_->left.exchange(true)) return;
  natsStatus s = kvStore_Delete(impl_->nodes, impl_->key.c_str());
  if (s != NATS_OK) {
    infra::log(infra::log_level::warn, std::string("membership: cannot delete this node's key (the "
                                                   "others drop it within the TTL): ") +
                                           natsStatus_GetText(s));
  }
  // The others own everything now: what this node still writes goes to them.
  std::vector<std::string> others;
  if (auto t = table_.load()) {
    for (const auto& n : t->nodes)
      if (n != options_.node) others.push_back(n);
  }
  publish(std::move(others));
}

}  // namespace referrald::cluster
