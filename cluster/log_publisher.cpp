#include "cluster/log_publisher.hpp"

#include <rapidjson/document.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <utility>

#include "cluster/cluster_native.hpp"
#include "cluster/log_messages.hpp"
#include "domain/base/digest.hpp"
#include "infra/thread_name.hpp"

namespace referrald::cluster {

namespace {

// A publish that reached no stream leader (one is being elected: a stepdown, a lost
// server): nothing was stored, and the same message may be published again a moment later.
bool leader_gone(natsStatus s, jsErrCode code) {
  return s == NATS_NO_RESPONDERS || code == JSClusterNotAvailErr;
}

// An attempt worth making again within the write's publish timeout: no leader took it, or
// none answered within the attempt's wait (the server it went to stepped down or went
// away as it arrived). Safe either way: the same message id and expectation store a write
// once, and an attempt that did store it is told apart from another writer's by the
// caller's check of the duplicate or the failed expectation.
bool worth_again(natsStatus s, jsErrCode code) {
  return leader_gone(s, code) || s == NATS_TIMEOUT ||
         static_cast<int>(code) == k_duplicate_in_process;
}

// An acknowledgement that says the message's id was claimed but not by which message: the
// stream's leader checks ids before storing (nats-server 2.10.14 and later) and answers a
// second message with an id still in flight "duplicate" at sequence 0 (2.11 answers error
// 10158 instead). The first may be this write's own earlier attempt or another writer's,
// and may yet fail: undecided, never beaten. Published again with the same id and
// expectation until decided.
bool undecided(const log_publisher::reply& r) {
  return r.status == NATS_OK && r.duplicate && r.seq == 0;
}

domain::error undecided_error() {
  return domain::make_error(domain::errc::unavailable,
                            "the cluster's event stream: the write's message id is being stored "
                            "by another attempt, undecided within the publish timeout");
}

// How long one attempt waits for its acknowledgement, `left` being what remains of the
// write's publish timeout `whole`: a third of it (at least 100 ms), so that an attempt lost
// in a leader's hand-over leaves time to publish again.
std::int64_t attempt_wait(std::chrono::milliseconds left, std::chrono::milliseconds whole) {
  auto third = std::max<std::chrono::milliseconds>(whole / 3, std::chrono::milliseconds(100));
  return std::max<std::int64_t>(1, std::min(left, third).count());
}

// The wait before publishing again after `attempts` tries: 25 ms, doubling to 200 ms.
std::chrono::milliseconds retry_delay(int attempts) {
  return std::chrono::milliseconds(25 << std::min(attempts, 3));
}

}  // namespace

void log_publisher::name_writers(const std::string& node_name) {
  std::uint64_t nonce = 0;
  auto d = domain::sha256(
      node_name + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) +
      std::to_string(reinterpret_cast<std::uintptr_t>(this)));
  std::memcpy(&nonce, d.data(), sizeof nonce);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(nonce));
  writer_prefix = node_name + "/" + hex + "/";
}

std::string log_publisher::new_writer() { return writer_prefix + std::to_string(++writes); }

domain::status log_publisher::start() {
  natsStatus s = natsInbox_Create(&inbox);
  if (s != NATS_OK) return nats_error("making the acknowledgements' inbox", s);
  acks_prefix = std::string(inbox) + ".";
  std::string subject = acks_prefix + "*";
  s = natsConnection_Subscribe(&acks, conn.nc, subject.c_str(), &log_publisher::on_ack, this);
  if (s != NATS_OK) return nats_error("subscribing the acknowledgements", s);
  natsSubscription_SetPendingLimits(acks, -1, -1);
  resolver = std::thread([this] {
    infra::name_thread("log.resolver");
    run_resolver();
  });
  return {};
}

void log_publisher::close() {
  {
    // Every append in flight is acknowledged or given up (its deadline) first.
    std::unique_lock lock(mu);
    decided_cv.wait_until(lock,
                          clock::now() + conn.options.publish_timeout + std::chrono::seconds(1),
                          [this] { return async_waiting.empty(); });
  }
  if (acks != nullptr) {
    // Drained, not only unsubscribed: an acknowledgement still being handled on the client's
    // thread is handled (what it hands the resolver included) before the resolver stops.
    natsSubscription_Drain(acks);
    natsSubscription_WaitForDrainCompletion(acks, 2000);
    natsSubscription_Destroy(acks);
    acks = nullptr;
  }
  if (inbox != nullptr) natsInbox_Destroy(inbox);
  inbox = nullptr;
  {
    // The resolver runs what it was handed, the delayed jobs told the log is closing.
    std::lock_guard lock(mu);
    resolve_stopping = true;
  }
  resolve_cv.notify_all();
  if (resolver.joinable()) resolver.join();
  std::unordered_map<std::uint64_t, async_append> left;
  {
    std::lock_guard lock(mu);
    left.swap(async_waiting);
    deadlines.clear();
  }
  for (auto& [token, a] : left)
    a.done(domain::make_error(domain::errc::unavailable, "the cluster log is closing"));
}

domain::result<std::uint64_t> log_publisher::append(const cluster_write& write,
                                                    std::uint64_t expected) {
  const cluster_write* named = &write;
  cluster_write copy;
  if (write.writer.empty()) {
    copy = write;
    copy.writer = new_writer();
    named = &copy;
  }
  const cluster_write& w = *named;
  std::string subject = cluster_subject(w.account_id);
  std::string payload = encode_cluster_write(w);
  // The id names the position the write claims: the account's next sequence number after
  // the stream's last write of the account. Two nodes claiming the same position send the
  // same id, and JetStream stores only the first — which also covers its check of the
  // expected sequence, not atomic in a replicated stream of nats-server 2.9 (two writes
  // expecting the same last sequence can both pass it). A retry of one attempt sends the
  // same id too; the writer tells the cases apart.
  std::string id = position_id(w, expected);
  return publish(conn.options.stream, subject, payload, id, expected, written_by(w.writer),
                 "another write of account " + w.account_id + " came first");
}

void log_publisher::append_async(cluster_write w, std::uint64_t expected,
                                 std::function<void(domain::result<std::uint64_t>)> done) {
  if (w.writer.empty()) w.writer = new_writer();
  async_append a;
  a.done = std::move(done);
  a.subject = cluster_subject(w.account_id);
  a.payload = encode_cluster_write(w);
  // The id as append() names it (see there).
  a.id = position_id(w, expected);
  a.expected = expected;
  a.until = std::chrono::steady_clock::now() + conn.options.publish_timeout;
  a.writer = w.writer;
  a.lost = "another write of account " + w.account_id + " came first";
  publish_async(std::move(a));
}

domain::result<std::uint64_t> log_publisher::append_records(const cluster_records& records,
                                                            std::optional<std::uint64_t> expected) {
  cluster_records named;
  const cluster_records* r = &records;
  if (records.writer.empty()) {
    named = records;
    named.writer = new_writer();
    r = &named;
  }
  std::string subject = std::string(k_records_prefix) + r->scope;
  std::string payload = encode_cluster_records(*r);
  // Read back as every follower will read it: records no node could read would stop every
  // node at them, and the stream keeps them for ever.
  if (auto read = decode_cluster_records(r->scope, payload); !read) {
    return domain::make_error(domain::errc::internal, "not written: " + read.err().message);
  }
  std::string id = expected ? subject + "/" + std::to_string(*expected) : r->writer;
  return publish(conn.options.stream, subject, payload, id, expected, written_by(r->writer),
                 "another write of " + subject + " came first");
}

domain::result<std::uint64_t> log_publisher::append_claim(const std::string& stream,
                                                          const std::string& token,
                                                          const std::string& payload,
                                                          std::uint64_t expected) {
  std::string subject = std::string(k_claims_prefix) + token;
  std::string id = subject + "/" + std::to_string(expected);
  // The payload names its writer (http/idempotency.cpp): equal bytes are this attempt's.
  auto ours = [&payload](natsMsg* m) {
    return payload_of(m) == payload;
  };
  return publish(stream, subject, payload, id, expected, ours,
                 "another request with the same Idempotency-Key came first");
}

domain::result<std::uint64_t> log_publisher::first_after_is_ours(
    const std::string& stream, const std::string& subject, std::uint64_t expected,
    const std::function<bool(natsMsg*)>& ours, const std::string& lost) {
  auto next = conn.next_message(subject, expected + 1, stream);
  if (!next) return std::move(next).err();
  if (next->msg != nullptr) {
    bool mine = ours(next->msg);
    release(next->msg);
    if (mine) return next->seq;
  }
  return domain::make_error(domain::errc::beaten, lost);
}

domain::result<bool> log_publisher::stored_is(const std::string& stream, const std::string& subject,
                                              std::uint64_t seq,
                                              const std::function<bool(natsMsg*)>& ours) {
  natsMsg* m = nullptr;
  if (seq == 0) {
    auto last = conn.last_message(subject, stream);
    if (!last) return std::move(last).err();
    m = *last;
  } else {
    jsOptions o = conn.js_options();
    jsErrCode code = jsErrCode(0);
    natsStatus s = js_GetMsg(&m, conn.js, stream.c_str(), seq, &o, &code);
    if (s == NATS_NOT_FOUND || code == JSNoMessageFoundErr)
      m = nullptr;
    else if (s != NATS_OK)
      return nats_error("reading a write", s, code);
  }
  if (m == nullptr) return false;
  bool mine = ours(m);
  release(m);
  return mine;
}

std::function<bool(natsMsg*)> log_publisher::written_by(const std::string& writer) {
  return [writer](natsMsg* m) {
    auto w = writer_of(m);
    return w && *w == writer;
  };
}

natsStatus log_publisher::fenced_message(natsMsg** m, const std::string& subject,
                                         const std::string& reply_to, const std::string& payload,
                                         const std::string& msg_id, const std::string& stream,
                                         std::optional<std::uint64_t> expected) {
  natsStatus s = natsMsg_Create(m, subject.c_str(), reply_to.empty() ? nullptr : reply_to.c_str(),
                                payload.data(), static_cast<int>(payload.size()));
  if (s == NATS_OK) s = natsMsgHeader_Set(*m, "Nats-Msg-Id", msg_id.c_str());
  if (s == NATS_OK) s = natsMsgHeader_Set(*m, "Nats-Expected-Stream", stream.c_str());
  if (s == NATS_OK && expected) {
    // 0: the subject has no message yet.
    s = natsMsgHeader_Set(*m, "Nats-Expected-Last-Subject-Sequence",
                          std::to_string(*expected).c_str());
  }
  if (s != NATS_OK) {
    release(*m);
    *m = nullptr;
  }
  return s;
}

log_publisher::reply log_publisher::read_reply(natsMsg* m) {
  reply r;
  if (natsMsg_IsNoResponders(m)) {
    r.status = NATS_NO_RESPONDERS;
    return r;
  }
  // {"stream":"REFERRALD","seq":7,"duplicate":true} or
  // {"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 6"}}
  rapidjson::Document d;
  std::string_view data(natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m)));
  d.Parse(data.data(), data.size());
  r.status = NATS_ERR;
  if (d.HasParseError() || !d.IsObject()) return r;
  if (auto e = d.FindMember("error"); e != d.MemberEnd()) {
    if (e->value.IsObject()) {
      auto c = e->value.FindMember("err_code");
      if (c != e->value.MemberEnd() && c->value.IsInt()) r.code = jsErrCode(c->value.GetInt());
    }
    return r;
  }
  auto seq = d.FindMember("seq");
  if (seq == d.MemberEnd() || !seq->value.IsUint64()) return r;
  r.seq = seq->value.GetUint64();
  auto dup = d.FindMember("duplicate");
  r.duplicate = dup != d.MemberEnd() && dup->value.IsBool() && dup->value.GetBool();
  r.status = NATS_OK;
  return r;
}

domain::result<std::uint64_t> log_publisher::publish(
    const std::string& stream, const std::string& subject, const std::string& payload,
    const std::string& msg_id, std::optional<std::uint64_t> expected,
    const std::function<bool(natsMsg*)>& ours, const std::string& lost) {
  natsMsg* m = nullptr;
  natsStatus s = fenced_message(&m, subject, {}, payload, msg_id, stream, expected);
  if (s != NATS_OK) return nats_error("preparing a write", s);
  std::int64_t wait = attempt_wait(conn.options.publish_timeout, conn.options.publish_timeout);
  reply r;
  // While the stream has no leader, or an attempt goes unanswered, published again within
  // the publish timeout.
  auto until = clock::now() + conn.options.publish_timeout;
  for (int attempts = 0;; ++attempts) {
    natsMsg* answer = nullptr;
    s = natsConnection_RequestMsg(&answer, conn.nc, m, wait);
    r = s == NATS_OK ? read_reply(answer) : reply{s};
    release(answer);
    if (!undecided(r) && (r.status == NATS_OK || !worth_again(r.status, r.code))) break;
    auto delay = r.status == NATS_TIMEOUT ? std::chrono::milliseconds(0) : retry_delay(attempts);
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock::now());
    if (left <= delay) break;
    std::this_thread::sleep_for(delay);
    wait = attempt_wait(left - delay, conn.options.publish_timeout);
  }
  release(m);
  if (undecided(r)) return undecided_error();
  if (r.status != NATS_OK) {
    if (r.code == JSStreamWrongLastSequenceErr && expected) {
      // This very write may be what came first: an earlier attempt stored it and its
      // acknowledgement was lost (a retry is checked against the expectation before the
      // stream looks for a duplicate), and other writes may have followed it since.
      return first_after_is_ours(stream, subject, *expected, ours, lost);
    }
    if (r.code == JSStreamMessageExceedsMaximumErr) {
      return domain::make_error(domain::errc::payload_too_large,
                                "the write is larger than the cluster's 8 MiB message limit");
    }
    return nats_error("appending a write", r.status, r.code);
  }
  if (!r.duplicate) return r.seq;
  // The id was claimed before: by this very attempt (its acknowledgement lost), or by
  // another node's write, which came first.
  auto stored = stored_is(stream, subject, r.seq, ours);
  if (!stored) return std::move(stored).err();
  if (*stored) return r.seq;
  return domain::make_error(domain::errc::beaten, lost);
}

void log_publisher::run_resolver() {
  std::unique_lock lock(mu);
  for (;;) {
    resolver_wakes = clock::time_point::min();
    if (!resolve_jobs.empty()) {
      auto job = std::move(resolve_jobs.front());
      resolve_jobs.pop_front();
      lock.unlock();
      job();
      lock.lock();
      continue;
    }
    auto now = clock::now();
    if (!resolve_stopping && !deadlines.empty() && deadlines.begin()->first <= now) {
      // An attempt unanswered within its wait: a timeout, as the client would report it.
      auto token = deadlines.begin()->second;
      lock.unlock();
      if (auto a = take(token)) decide(std::move(*a), reply{NATS_TIMEOUT});
      lock.lock();
      continue;
    }
    if (!resolve_delayed.empty() && (resolve_stopping || resolve_delayed.begin()->first <= now)) {
      auto job = std::move(resolve_delayed.begin()->second);
      resolve_delayed.erase(resolve_delayed.begin());
      bool closing = resolve_stopping;
      lock.unlock();
      job(closing);
      lock.lock();
      continue;
    }
    if (resolve_stopping) return;
    resolver_wakes = clock::time_point::max();
    if (!deadlines.empty()) resolver_wakes = deadlines.begin()->first;
    if (!resolve_delayed.empty())
      resolver_wakes = std::min(resolver_wakes, resolve_delayed.begin()->first);
    if (resolver_wakes == clock::time_point::max()) {
      resolve_cv.wait(lock);
    } else {
      resolve_cv.wait_until(lock, resolver_wakes);
    }
  }
}

void log_publisher::resolve_after(std::chrono::milliseconds delay,
                                  std::function<void(bool closing)> job) {
  {
    std::lock_guard lock(mu);
    resolve_delayed.emplace(clock::now() + delay, std::move(job));
  }
  resolve_cv.notify_all();
}

void log_publisher::resolve_later(std::function<void()> job) {
  {
    std::lock_guard lock(mu);
    resolve_jobs.push_back(std::move(job));
  }
  resolve_cv.notify_all();
}

std::optional<log_publisher::async_append> log_publisher::take(std::uint64_t token) {
  std::optional<async_append> a;
  {
    std::lock_guard lock(mu);
    auto it = async_waiting.find(token);
    if (it == async_waiting.end()) return a;
    a = std::move(it->second);
    async_waiting.erase(it);
    deadlines.erase({a->deadline, token});
  }
  // For close() and publishers waiting for room (no system call when none waits).
  decided_cv.notify_all();
  return a;
}

void log_publisher::publish_async(async_append a) {
  auto now = clock::now();
  a.deadline = now + std::chrono::milliseconds(attempt_wait(
                         std::chrono::duration_cast<std::chrono::milliseconds>(a.until - now),
                         conn.options.publish_timeout));
  std::uint64_t token = ++tokens;
  natsMsg* m = nullptr;
  natsStatus s = fenced_message(&m, a.subject, acks_prefix + std::to_string(token), a.payload, a.id,
                                conn.options.stream, a.expected);
  if (s != NATS_OK) return a.done(nats_error("preparing a write", s));
  bool wake = false;
  {
    std::unique_lock lock(mu);
    // Up to k_in_flight attempts in flight; past them a publisher waits for one to be
    // decided, up to k_room_wait, as the client's asynchronous publishing did.
    if (!decided_cv.wait_for(lock, k_room_wait,
                             [this] { return async_waiting.size() < k_in_flight; })) {
      lock.unlock();
      release(m);
      return a.done(domain::make_error(
          domain::errc::unavailable,
          "the cluster's event stream: " + std::to_string(k_in_flight) +
              " writes are awaiting their acknowledgement; none was acknowledged within " +
              std::to_string(k_room_wait.count()) + " ms"));
    }
    // The resolver is woken only when this deadline comes before the one it waits for.
    wake = a.deadline < resolver_wakes;
    deadlines.emplace(a.deadline, token);
    async_waiting.emplace(token, std::move(a));
  }
  if (wake) resolve_cv.notify_all();
  s = natsConnection_PublishMsg(conn.nc, m);
  release(m);
  if (s == NATS_OK) return;
  if (auto failed = take(token)) failed->done(nats_error("appending a write", s));
}

void log_publisher::on_ack(natsConnection*, natsSubscription*, natsMsg* m, void* closure) {
  // The NATS client's delivery thread of the acknowledgements; made by the thread that
  // subscribed them (the node's start), whose name it would keep.
  infra::name_thread_once("log.acks");
  auto* self = static_cast<log_publisher*>(closure);
  std::string_view subject = natsMsg_GetSubject(m);
  std::uint64_t token = 0;
  auto dot = subject.rfind('.');
  if (dot != std::string_view::npos) {
    auto digits = subject.substr(dot + 1);
    std::from_chars(digits.data(), digits.data() + digits.size(), token);
  }
  reply r = read_reply(m);
  release(m);
  if (auto a = self->take(token)) self->decide(std::move(*a), r);
}

void log_publisher::decide(async_append a, const reply& r) {
  if (r.status == NATS_OK && !r.duplicate) return a.done(r.seq);
  if (undecided(r)) {
    if (clock::now() >= a.until) return a.done(undecided_error());
    // Published again (same id, same expectation) until the first message with the id
    // is decided, within the write's publish timeout.
    auto delay = retry_delay(a.attempts++);
    return resolve_after(delay, [this, a = std::move(a)](bool closing) mutable {
      if (closing) return a.done(undecided_error());
      publish_async(std::move(a));
    });
  }
  if (r.status == NATS_OK) {
    // The id was claimed before: by this very attempt, or by another node's write.
    return resolve_later([this, a = std::move(a), seq = r.seq] {
      auto stored = stored_is(conn.options.stream, a.subject, seq, written_by(a.writer));
      if (!stored) return a.done(std::move(stored).err());
      if (*stored) return a.done(seq);
      a.done(domain::make_error(domain::errc::beaten, a.lost));
    });
  }
  natsStatus s = r.status;
  jsErrCode code = r.code;
  if (worth_again(s, code) && clock::now() < a.until) {
    // Published again (same id, same expectation: stored at most once, see worth_again)
    // once the stream has elected its leader, within the write's publish timeout.
    auto delay = s == NATS_TIMEOUT ? std::chrono::milliseconds(0) : retry_delay(a.attempts++);
    return resolve_after(delay, [this, a = std::move(a), s, code](bool closing) mutable {
      if (closing) return a.done(nats_error("appending a write", s, code));
      publish_async(std::move(a));
    });
  }
  if (code == JSStreamWrongLastSequenceErr) {
    return resolve_later([this, a = std::move(a)] {
      a.done(first_after_is_ours(conn.options.stream, a.subject, a.expected, written_by(a.writer),
                                 a.lost));
    });
  }
  if (code == JSStreamMessageExceedsMaximumErr) {
    return a.done(domain::make_error(domain::errc::payload_too_large,
                                     "the write is larger than the cluster's 8 MiB message limit"));
  }
  a.done(nats_error("appending a write", s, code));
}

}  // namespace referrald::cluster
