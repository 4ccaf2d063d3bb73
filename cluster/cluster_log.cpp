#include "cluster/cluster_log.hpp"

#include <nats/nats.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "cluster/cluster_native.hpp"
#include "cluster/log_connection.hpp"
#include "cluster/log_follower.hpp"
#include "cluster/log_messages.hpp"
#include "cluster/log_publisher.hpp"
#include "cluster/nats_server_info.hpp"
#include "cluster/server_discovery.hpp"
#include "cluster/stream_admin.hpp"
#include "cluster/stream_replication.hpp"
#include "infra/log.hpp"
#include "infra/thread_name.hpp"

namespace referrald::cluster {

// The log's parts, each in its own file, on one connection. The follower's watchdog also
// runs the checks of the cluster's servers and of the stream's replication (check_cluster).
struct cluster_log::impl {
  log_connection conn;
  server_discovery servers{conn};
  stream_admin admin{conn, servers};
  stream_replication replicas{conn, admin};
  log_publisher publisher{conn};
  log_follower follower;

  impl() : follower(conn, [this] { check_cluster(); }) {}
  ~impl();

  // A stopping node's watch of its connection (close_when_unreachable): ends when it closed
  // the connection, or when the log is destroyed.
  std::mutex watch_mu;
  std::condition_variable watch_cv;
  bool watch_done = false;
  std::thread watch;

  // The watchdog's, every second: the servers' versions every minute, the stream's
  // replication every 5 s.
  void check_cluster();
};

cluster_log::impl::~impl() {
  {
    std::lock_guard lock(watch_mu);
    watch_done = true;
  }
  watch_cv.notify_all();
  if (watch.joinable()) watch.join();
  follower.stop_watchdog();
  publisher.close();
  follower.unsubscribe();
  conn.close();
}

void cluster_log::impl::check_cluster() {
  using namespace std::chrono_literals;
  if (std::chrono::steady_clock::now() - servers.servers_checked >= 60s) servers.check_servers();
  // What it saw, and what it could not raise, are kept and logged by the check itself.
  if (std::chrono::steady_clock::now() - replicas.replication_checked >= 5s) {
    (void)replicas.check_replication();
  }
}

cluster_log::cluster_log(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

natsConnection* cluster_native::connection(cluster_log& log) { return log.impl_->conn.nc; }
jsCtx* cluster_native::jetstream(cluster_log& log) { return log.impl_->conn.js; }
const cluster_options& cluster_native::options(cluster_log& log) { return log.impl_->conn.options; }

cluster_log::~cluster_log() = default;

domain::result<std::unique_ptr<cluster_log>> cluster_log::open(const cluster_options& o) {
  if (o.servers.empty()) {
    return domain::make_error(domain::errc::validation_failed, "no cluster server given");
  }
  auto p = std::make_unique<impl>();
  p->conn.options = o;
  p->publisher.name_writers(o.node_name);
  // After a lost link, what the follower applied meanwhile is confirmed in full.
  auto reconnected = [](natsConnection*, void* closure) {
    static_cast<log_follower*>(closure)->suspect_all = true;
  };
  if (auto st = p->conn.connect(reconnected, &p->follower); !st) return std::move(st).err();
  if (auto st = p->publisher.start(); !st) return std::move(st).err();
  // The stream: retried until the timeout in short attempts, since a fresh cluster elects
  // its metadata leader a moment after its servers start, and a request sent before that
  // gets no answer at all.
  auto deadline = std::chrono::steady_clock::now() + std::max(o.timeout, o.start_wait);
  // How many servers the cluster has, before the stream is made with that many replicas: a
  // server tells a client the others as their routes come up, within a moment of a start.
  p->servers.settle_known_servers(deadline);
  auto until_led = [&]() -> domain::status {
    for (;;) {
      auto st = p->admin.ensure_stream(
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
  auto checked = p->replicas.check_replication(&raised);
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
      auto st = p->admin.ensure_claims_stream();
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
  if (auto stopped = impl_->follower.refuse_if_halted(); !stopped) return std::move(stopped).err();
  return impl_->publisher.append(write, expected);
}

void cluster_log::append_async(cluster_write w, std::uint64_t expected,
                               std::function<void(domain::result<std::uint64_t>)> done) {
  if (auto stopped = impl_->follower.refuse_if_halted(); !stopped) {
    return done(std::move(stopped).err());
  }
  impl_->publisher.append_async(std::move(w), expected, std::move(done));
}

domain::result<std::uint64_t> cluster_log::append_records(const cluster_records& records,
                                                          std::optional<std::uint64_t> expected) {
  if (auto stopped = impl_->follower.refuse_if_halted(); !stopped) return std::move(stopped).err();
  return impl_->publisher.append_records(records, expected);
}

domain::result<std::vector<std::pair<std::string, std::uint64_t>>> cluster_log::records_heads(
    std::uint64_t at_most) {
  jsOptions o = impl_->conn.js_options();
  std::string filter = std::string(k_records_prefix) + ">";
  o.Stream.Info.SubjectsFilter = filter.c_str();
  jsErrCode code = jsErrCode(0);
  jsStreamInfo* si = nullptr;
  natsStatus s =
      js_GetStreamInfo(&si, impl_->conn.js, impl_->conn.options.stream.c_str(), &o, &code);
  if (s != NATS_OK) return nats_error("listing the stream's records", s, code);
  std::vector<std::string> subjects;
  if (si->State.Subjects != nullptr) {
    for (int i = 0; i < si->State.Subjects->Count; ++i)
      subjects.emplace_back(si->State.Subjects->List[i].Subject);
  }
  jsStreamInfo_Destroy(si);
  std::vector<std::pair<std::string, std::uint64_t>> heads;
  for (const auto& subject : subjects) {
    auto m = impl_->conn.last_message(subject);
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
  auto m =
      impl_->conn.last_message(std::string(k_claims_prefix) + token, impl_->admin.claims_stream());
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
  return impl_->publisher.append_claim(impl_->admin.claims_stream(), token, payload, expected);
}

domain::result<std::optional<cluster_records>> cluster_log::last_records(std::string_view scope) {
  std::string subject = std::string(k_records_prefix) + std::string(scope);
  auto m = impl_->conn.last_message(subject);
  if (!m) return std::move(m).err();
  if (*m == nullptr) return std::optional<cluster_records>{};
  auto r = records_from_message(*m);
  release(*m);
  if (!r) return std::move(r).err();
  return std::optional<cluster_records>(std::move(*r));
}

domain::result<std::optional<cluster_write>> cluster_log::get(std::uint64_t seq) {
  natsMsg* m = nullptr;
  jsOptions o = impl_->conn.js_options();
  jsErrCode code = jsErrCode(0);
  natsStatus s = js_GetMsg(&m, impl_->conn.js, impl_->conn.options.stream.c_str(), seq, &o, &code);
  if (s == NATS_NOT_FOUND || code == JSNoMessageFoundErr) return std::optional<cluster_write>{};
  if (s != NATS_OK) return nats_error("reading a write", s, code);
  auto w = from_message(m);
  release(m);
  if (!w) return std::move(w).err();
  w->stream_seq = seq;
  return std::optional<cluster_write>(std::move(*w));
}

domain::result<std::optional<cluster_write>> cluster_log::last(std::string_view account_id) {
  auto m = impl_->conn.last_message(cluster_subject(account_id));
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
  jsOptions o = impl_->conn.js_options();
  for (bool done = false; !done;) {
    // A gap (a mismatch) or silence fails the read with the client's error.
    jsSubOptions so = impl_->conn.read_in_order(next, std::chrono::seconds(5));
    natsSubscription* sub = nullptr;
    jsErrCode code = jsErrCode(0);
    natsStatus s = js_SubscribeSync(&sub, impl_->conn.js, subject.c_str(), &o, &so, &code);
    if (s != NATS_OK) return nats_error("reading an account's writes", s, code);
    domain::status result;
    for (;;) {
      natsMsg* m = nullptr;
      s = natsSubscription_NextMsg(&m, sub, impl_->conn.options.timeout.count());
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
  jsOptions o = impl_->conn.js_options();
  std::string filter = std::string(k_events_prefix) + ">";
  o.Stream.Info.SubjectsFilter = filter.c_str();
  jsErrCode code = jsErrCode(0);
  jsStreamInfo* si = nullptr;
  natsStatus s =
      js_GetStreamInfo(&si, impl_->conn.js, impl_->conn.options.stream.c_str(), &o, &code);
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

int cluster_log::wanted_replicas() const { return impl_->admin.wanted_replicas(); }

int cluster_log::known_servers() const { return impl_->servers.most_known_servers(); }

cluster_log::replication cluster_log::replication_status() const {
  auto r = impl_->replicas.status();
  const auto* v = k_nats_recommended;
  for (const auto& server : impl_->servers.seen_servers()) {
    if (!nats_version_at_least(server.version, v[0], v[1], v[2])) {
      r.problems.push_back(old_server_warning(server));
    }
  }
  return r;
}

std::vector<nats_server_info> cluster_log::nats_servers() const {
  return impl_->servers.seen_servers();
}

std::string cluster_log::new_writer() { return impl_->publisher.new_writer(); }

domain::result<std::uint64_t> cluster_log::last_seq() {
  jsOptions o = impl_->conn.js_options();
  jsErrCode code = jsErrCode(0);
  jsStreamInfo* si = nullptr;
  natsStatus s =
      js_GetStreamInfo(&si, impl_->conn.js, impl_->conn.options.stream.c_str(), &o, &code);
  if (s != NATS_OK) return nats_error("reading the stream's state", s, code);
  std::uint64_t last = si->State.LastSeq;
  jsStreamInfo_Destroy(si);
  return last;
}

domain::status cluster_log::follow(std::uint64_t from,
                                   std::function<void(domain::result<cluster_message>)> fn,
                                   std::function<void(std::uint64_t seq)> diverged,
                                   std::function<void()> idle) {
  return impl_->follower.start(from, std::move(fn), std::move(diverged), std::move(idle));
}

domain::result<std::vector<cluster_log::stepdown>> cluster_log::step_down(
    std::chrono::milliseconds wait) {
  return impl_->admin.step_down(wait);
}

domain::result<cluster_log::stream_status> cluster_log::status() { return impl_->admin.status(); }

void cluster_log::suspect() { impl_->follower.suspect_all = true; }

std::uint64_t cluster_log::confirmed() const {
  std::lock_guard lock(impl_->follower.deliver_mu);
  return impl_->follower.confirmed.seq;
}

void cluster_log::diverged(std::uint64_t seq, const std::string& why) {
  impl_->follower.diverge(seq, why);
}

std::chrono::milliseconds cluster_log::leaderless_for() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               impl_->conn.led_at.load());
}

void cluster_log::halt(std::uint64_t seq, const std::string& why) {
  (void)impl_->follower.halt(seq, why);
}

void cluster_log::halt(std::uint64_t seq, const domain::error& e) {
  (void)impl_->follower.halt(seq, log_follower::halt_reason(seq, e, true));
}

std::string cluster_log::halted() const {
  if (!impl_->follower.halted_flag.load()) return {};  // asked for each write: no lock then
  std::lock_guard lock(impl_->follower.halt_mu);
  return impl_->follower.halted_why;
}

bool cluster_log::newer_release(const domain::error& e) { return log_follower::newer_release(e); }

bool cluster_log::connected() const {
  return natsConnection_Status(impl_->conn.nc) == NATS_CONN_STATUS_CONNECTED;
}

void cluster_log::close_when_unreachable(std::chrono::milliseconds grace) {
  std::lock_guard started(impl_->watch_mu);
  if (impl_->watch.joinable() || impl_->watch_done) return;
  impl_->watch = std::thread([this, grace] {
    infra::name_thread("log.stopping");
    auto& i = *impl_;
    std::optional<std::chrono::steady_clock::time_point> down_since;
    std::unique_lock lock(i.watch_mu);
    while (!i.watch_done) {
      if (connected()) {
        down_since.reset();
      } else if (!down_since) {
        down_since = std::chrono::steady_clock::now();
      } else if (std::chrono::steady_clock::now() - *down_since >= grace) {
        infra::log(
            infra::log_level::warn,
            "stopping without the cluster's servers (none reachable for " +
                std::to_string(std::chrono::duration_cast<std::chrono::seconds>(grace).count()) +
                " s): the other nodes count this node out when its key expires");
        natsConnection_Close(i.conn.nc);
        return;
      }
      i.watch_cv.wait_for(lock, std::chrono::milliseconds(50));
    }
  });
}

}  // namespace referrald::cluster
