#include "cluster/log_follower.hpp"

#include <algorithm>
#include <utility>

#include "cluster/cluster_native.hpp"
#include "cluster/log_messages.hpp"
#include "infra/log.hpp"
#include "infra/thread_name.hpp"

namespace referrald::cluster {

using store::k_newer_release;

domain::status log_follower::start(std::uint64_t from,
                                   std::function<void(domain::result<cluster_message>)> fn,
                                   std::function<void(std::uint64_t seq)> diverged,
                                   std::function<void()> idle) {
  {
    std::lock_guard lock(follow_mu);
    if (sub != nullptr || watchdog.joinable()) {
      return domain::make_error(domain::errc::internal, "the stream is already followed");
    }
    on_write = std::move(fn);
    on_diverged = std::move(diverged);
    on_idle = std::move(idle);
    next_seq = std::max<std::uint64_t>(from, 1);
    if (auto st = subscribe(); !st) return st;
  }
  last_delivery = std::chrono::steady_clock::now();
  watchdog = std::thread([this] {
    infra::name_thread("log.watchdog");
    watch();
  });
  return {};
}

void log_follower::stop_watchdog() {
  {
    std::lock_guard lock(watch_mu);
    stopping = true;
  }
  watch_cv.notify_all();
  if (watchdog.joinable()) watchdog.join();
}

void log_follower::unsubscribe() {
  if (sub != nullptr) {
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
  }
}

void log_follower::on_message(natsConnection*, natsSubscription* sub, natsMsg* m, void* closure) {
  infra::name_thread_once("log.follow");
  auto* self = static_cast<log_follower*>(closure);
  self->last_delivery = std::chrono::steady_clock::now();
  std::lock_guard lock(self->deliver_mu);
  // Whether the client holds the subscription's next message already.
  int queued = 0;
  bool more = natsSubscription_GetPending(sub, &queued, nullptr) == NATS_OK && queued > 0;
  std::uint64_t seq = stream_seq_of(m);
  if (self->halted_flag.load() || (seq != 0 && seq < self->next_seq)) {
    release(m);  // halted, or delivered before a resubscription
  } else if (self->refollow.load() || (seq > self->next_seq && !self->fill_gap(seq)) ||
             self->halted_flag.load()) {
    // The stream has every sequence number (it denies deletes and has no limits), so a
    // message past the next one means the server the follower reads from lacks some (a
    // replica catching up after a partition): the missing ones are read from the stream's
    // leader, or the follower reads again from the next one a moment later. Never skipped.
    release(m);
  } else {
    self->deliver(m, seq, more);
  }
  if (!more) self->idle();
}

void log_follower::idle() {
  if (on_idle) on_idle();
}

std::uint64_t log_follower::print_of(natsMsg* m) {
  std::hash<std::string_view> h;
  return h(natsMsg_GetSubject(m)) * 0x9E3779B97F4A7C15ULL ^ h(payload_of(m));
}

void log_follower::deliver(natsMsg* m, std::uint64_t seq, bool more) {
  std::uint64_t print = print_of(m);
  auto w = message_from(m);
  release(m);
  if (!w) {
    halt(seq, halt_reason(seq, w.err(), false));
    return;
  }
  w->more_queued = more;
  if (seq != 0) next_seq = seq + 1;
  if (unconfirmed.size() >= k_unconfirmed_kept) {
    unconfirmed.erase(unconfirmed.begin(),
                      unconfirmed.begin() + static_cast<std::ptrdiff_t>(k_unconfirmed_kept / 2));
  }
  unconfirmed.push_back({seq, print});
  on_write(std::move(w));
}

std::string log_follower::halt_reason(std::uint64_t seq, const domain::error& e, bool decoded) {
  std::string n = std::to_string(seq);
  if (newer_release(e)) {
    return "a newer release wrote message " + n + " of the stream: upgrade this node (" +
           e.message + ")";
  }
  return decoded ? "cannot apply message " + n + " of the stream: " + e.message
                 : "message " + n + " of the stream cannot be read: " + e.message;
}

bool log_follower::newer_release(const domain::error& e) {
  return e.code == domain::errc::store_corrupted &&
         e.message.find(k_newer_release) != std::string::npos;
}

domain::status log_follower::refuse_if_halted() const {
  if (!halted_flag.load()) return {};
  std::lock_guard lock(halt_mu);
  return domain::make_error(domain::errc::unavailable,
                            "this node stopped applying the cluster's stream: " + halted_why);
}

bool log_follower::halt(std::uint64_t seq, const std::string& why) {
  {
    std::lock_guard lock(halt_mu);
    if (halted_flag.load()) return false;
    halted_why = why;
    halted_flag = true;
  }
  infra::log(infra::log_level::error, "stopped applying the cluster's stream at message " +
                                          std::to_string(seq) + ": " + why);
  return true;
}

void log_follower::confirm() {
  using namespace std::chrono_literals;
  if (halted_flag.load()) return;
  jsOptions o = conn.js_options(2000ms);
  jsErrCode code = jsErrCode(0);
  jsStreamInfo* si = nullptr;
  if (js_GetStreamInfo(&si, conn.js, conn.options.stream.c_str(), &o, &code) != NATS_OK) {
    suspect_all = true;
    return;
  }
  std::string leader =
      si->Cluster != nullptr && si->Cluster->Leader != nullptr ? si->Cluster->Leader : "";
  if (si->Cluster == nullptr || !leader.empty()) conn.led_at = std::chrono::steady_clock::now();
  jsStreamInfo_Destroy(si);
  if (leader != leader_seen) {
    if (!leader_seen.empty()) suspect_all = true;
    leader_seen = leader;
  }
  std::vector<applied_mark> marks;
  applied_mark before;
  {
    std::lock_guard lock(deliver_mu);
    marks = unconfirmed;
    before = confirmed;
  }
  bool all = suspect_all.exchange(false);
  if (marks.empty() && !all) return;
  std::vector<applied_mark> check;
  if (before.seq != 0) check.push_back(before);
  if (all || marks.size() <= 8) {
    check.insert(check.end(), marks.begin(), marks.end());
  } else {
    for (std::size_t i = 1; i <= 7; ++i)
      check.push_back(marks[i * marks.size() / 8 - 1]);
    check.push_back(marks.back());
  }
  for (const auto& mark : check) {
    natsMsg* got = nullptr;
    code = jsErrCode(0);
    natsStatus s = js_GetMsg(&got, conn.js, conn.options.stream.c_str(), mark.seq, &o, &code);
    if (s == NATS_OK) {
      std::uint64_t print = print_of(got);
      release(got);
      if (print != mark.print) {
        return diverge(mark.seq, "the message the stream's leader has there is another");
      }
      continue;
    }
    if (all) suspect_all = true;  // not confirmed yet: again at the next check
    if (code != JSNoMessageFoundErr) return;
    // A leader just elected may not have stored its last messages yet: only a message
    // it lacks for three checks running was never the stream's.
    if (missing_seq != mark.seq) {
      missing_seq = mark.seq;
      missing_checks = 0;
    }
    if (++missing_checks >= 3) return diverge(mark.seq, "the stream's leader does not have it");
    return;
  }
  missing_seq = 0;
  missing_checks = 0;
  if (marks.empty()) return;
  std::lock_guard lock(deliver_mu);
  auto upto = marks.back().seq;
  unconfirmed.erase(unconfirmed.begin(),
                    std::find_if(unconfirmed.begin(), unconfirmed.end(),
                                 [&](const applied_mark& m) { return m.seq > upto; }));
  confirmed = marks.back();
}

void log_follower::diverge(std::uint64_t seq, const std::string& why) {
  bool now =
      halt(seq, "this node applied message " + std::to_string(seq) + " of the stream, but " + why +
                    ": its copy differs from the stream (a replica served writes the "
                    "stream never held) and must be filled again");
  if (now && on_diverged) on_diverged(seq);
}

bool log_follower::fill_gap(std::uint64_t seq, std::string_view why) {
  using namespace std::chrono_literals;
  infra::log(infra::log_level::warn, "the stream's messages " + std::to_string(next_seq) + ".." +
                                         std::to_string(seq - 1) + " " + std::string(why) +
                                         "; reading them from the stream's leader");
  constexpr std::uint64_t k_most = 1000;
  if (seq - next_seq > k_most) return refollow_soon();
  jsOptions o = conn.js_options(2000ms);
  while (next_seq < seq) {
    natsMsg* missing = nullptr;
    jsErrCode code = jsErrCode(0);
    if (js_GetMsg(&missing, conn.js, conn.options.stream.c_str(), next_seq, &o, &code) != NATS_OK) {
      return refollow_soon();
    }
    deliver(missing, next_seq, true);  // the message that found the gap follows
    if (halted_flag.load()) return false;
  }
  suspect_all = true;  // the server the follower reads from lagged: confirm what it served
  return true;
}

bool log_follower::refollow_soon() {
  refollow = true;
  watch_cv.notify_all();
  return false;
}

domain::status log_follower::subscribe() {
  std::uint64_t from = 0;
  {
    std::lock_guard lock(deliver_mu);
    from = next_seq;
  }
  jsOptions o = conn.js_options();
  // Heartbeats every second: a consumer gone with its server is noticed soon (watch()).
  jsSubOptions so = conn.read_in_order(from, std::chrono::seconds(1));
  jsErrCode code = jsErrCode(0);
  natsSubscription* fresh = nullptr;
  natsStatus s =
      js_Subscribe(&fresh, conn.js, "referrald.>", &log_follower::on_message, this, &o, &so, &code);
  if (s != NATS_OK) return nats_error("following the stream", s, code);
  if (sub != nullptr) {
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
  }
  sub = fresh;
  return {};
}

void log_follower::watch() {
  using namespace std::chrono_literals;
  std::unique_lock lock(watch_mu);
  while (!stopping) {
    watch_cv.wait_for(lock, 1s, [&] { return stopping || refollow.load(); });
    if (stopping) break;
    lock.unlock();
    // A halted follower stays where it stopped: nothing is confirmed or followed again.
    bool halted = halted_flag.load();
    if (!halted) confirm();
    if (!halted && refollow.load()) {
      // A gap the leader could not fill: from the next message again, in a moment (a
      // new consumer, placed on a server of the stream anew).
      std::this_thread::sleep_for(250ms);
      std::lock_guard follow(follow_mu);
      if (sub != nullptr) {
        natsSubscription_Unsubscribe(sub);
        natsSubscription_Destroy(sub);
        sub = nullptr;
      }
      refollow = false;
      if (!subscribe()) refollow = true;
    }
    {
      // What was held back for messages that never came (a subscription made anew).
      std::lock_guard held(deliver_mu);
      idle();
    }
    if (other_checks) other_checks();
    if (!halted && std::chrono::steady_clock::now() - last_delivery.load() >= 2s) {
      resubscribe_if_behind();
    }
    lock.lock();
  }
}

void log_follower::resubscribe_if_behind() {
  jsOptions o = conn.js_options(std::chrono::milliseconds(2000));
  jsErrCode code = jsErrCode(0);
  jsStreamInfo* si = nullptr;
  if (js_GetStreamInfo(&si, conn.js, conn.options.stream.c_str(), &o, &code) != NATS_OK) return;
  std::uint64_t last = si->State.LastSeq;
  jsStreamInfo_Destroy(si);
  {
    std::lock_guard lock(deliver_mu);
    if (last < next_seq) {
      last_delivery = std::chrono::steady_clock::now();  // nothing missed
      return;
    }
    if (!halted_flag.load() && !refollow.load()) {
      (void)fill_gap(std::min(last, next_seq + 999) + 1,
                     "are stored in the stream but its follower has not had them for 2 s");
      idle();
    }
  }
  std::lock_guard lock(follow_mu);
  if (subscribe()) last_delivery = std::chrono::steady_clock::now();
}

}  // namespace referrald::cluster
