#include "cluster/log_publisher.hpp"

#include <algorithm>
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
bool undecided(const jsPubAck* ack) {
  return ack != nullptr && ack->Duplicate && ack->Sequence == 0;
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
  jsOptions ja = conn.js_options();
  ja.PublishAsync.MaxPending = 4096;
  ja.PublishAsync.AckHandler = &log_publisher::on_ack;
  ja.PublishAsync.AckHandlerClosure = this;
  natsStatus s = natsConnection_JetStream(&js_async, conn.nc, &ja);
  if (s != NATS_OK) return nats_error("opening JetStream", s);
  resolver = std::thread([this] {
    infra::name_thread("log.resolver");
    run_resolver();
  });
  return {};
}

void log_publisher::close() {
  if (js_async != nullptr) {
    // Every append in flight is acknowledged or given up (MaxWait) first.
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = conn.options.publish_timeout.count() + 1000;
    js_PublishAsyncComplete(js_async, &po);
  }
  {
    std::lock_guard lock(resolve_mu);
    resolve_stopping = true;
  }
  resolve_cv.notify_all();
  if (resolver.joinable()) resolver.join();
  {
    std::lock_guard lock(async_mu);
    for (auto& [id, a] : async_waiting)
      a.done(domain::make_error(domain::errc::unavailable, "the cluster log is closing"));
    async_waiting.clear();
  }
  if (js_async != nullptr) jsCtx_Destroy(js_async);
  js_async = nullptr;
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

domain::result<std::uint64_t> log_publisher::publish(
    const std::string& stream, const std::string& subject, const std::string& payload,
    const std::string& msg_id, std::optional<std::uint64_t> expected,
    const std::function<bool(natsMsg*)>& ours, const std::string& lost) {
  natsMsg* m = nullptr;
  natsStatus s = natsMsg_Create(&m, subject.c_str(), nullptr, payload.data(),
                                static_cast<int>(payload.size()));
  if (s != NATS_OK) return nats_error("preparing a write", s);
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = attempt_wait(conn.options.publish_timeout, conn.options.publish_timeout);
  po.MsgId = msg_id.c_str();
  po.ExpectStream = stream.c_str();
  if (expected && *expected == 0) {
    po.ExpectNoMessage = true;
  } else if (expected) {
    po.ExpectLastSubjectSeq = *expected;
  }
  jsPubAck* ack = nullptr;
  jsErrCode code = jsErrCode(0);
  // While the stream has no leader, or an attempt goes unanswered, published again within
  // the publish timeout.
  auto until = std::chrono::steady_clock::now() + conn.options.publish_timeout;
  bool in_flight = false;
  for (int attempts = 0;; ++attempts) {
    code = jsErrCode(0);
    s = js_PublishMsg(&ack, conn.js, m, &po, &code);
    in_flight = s == NATS_OK && undecided(ack);
    if (in_flight) {
      jsPubAck_Destroy(ack);
      ack = nullptr;
    } else if (s == NATS_OK || !worth_again(s, code)) {
      break;
    }
    auto delay = s == NATS_TIMEOUT ? std::chrono::milliseconds(0) : retry_delay(attempts);
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left <= delay) break;
    std::this_thread::sleep_for(delay);
    po.MaxWait = attempt_wait(left - delay, conn.options.publish_timeout);
  }
  release(m);
  if (in_flight) return undecided_error();
  if (s != NATS_OK) {
    if (code == JSStreamWrongLastSequenceErr && expected) {
      // This very write may be what came first: an earlier attempt stored it and its
      // acknowledgement was lost (a retry is checked against the expectation before the
      // stream looks for a duplicate), and other writes may have followed it since.
      return first_after_is_ours(stream, subject, *expected, ours, lost);
    }
    if (code == JSStreamMessageExceedsMaximumErr) {
      return domain::make_error(domain::errc::payload_too_large,
                                "the write is larger than the cluster's 8 MiB message limit");
    }
    return nats_error("appending a write", s, code);
  }
  std::uint64_t seq = ack->Sequence;
  bool duplicate = ack->Duplicate;
  jsPubAck_Destroy(ack);
  if (!duplicate) return seq;
  // The id was claimed before: by this very attempt (its acknowledgement lost), or by
  // another node's write, which came first.
  auto stored = stored_is(stream, subject, seq, ours);
  if (!stored) return std::move(stored).err();
  if (*stored) return seq;
  return domain::make_error(domain::errc::beaten, lost);
}

void log_publisher::run_resolver() {
  std::unique_lock lock(resolve_mu);
  for (;;) {
    if (!resolve_jobs.empty()) {
      auto job = std::move(resolve_jobs.front());
      resolve_jobs.pop_front();
      lock.unlock();
      job();
      lock.lock();
      continue;
    }
    if (!resolve_delayed.empty() &&
        (resolve_stopping || resolve_delayed.begin()->first <= std::chrono::steady_clock::now())) {
      auto job = std::move(resolve_delayed.begin()->second);
      resolve_delayed.erase(resolve_delayed.begin());
      bool closing = resolve_stopping;
      lock.unlock();
      job(closing);
      lock.lock();
      continue;
    }
    if (resolve_stopping) return;
    if (resolve_delayed.empty()) {
      resolve_cv.wait(lock);
    } else {
      resolve_cv.wait_until(lock, resolve_delayed.begin()->first);
    }
  }
}

void log_publisher::resolve_after(std::chrono::milliseconds delay,
                                  std::function<void(bool closing)> job) {
  {
    std::lock_guard lock(resolve_mu);
    resolve_delayed.emplace(std::chrono::steady_clock::now() + delay, std::move(job));
  }
  resolve_cv.notify_one();
}

void log_publisher::resolve_later(std::function<void()> job) {
  {
    std::lock_guard lock(resolve_mu);
    resolve_jobs.push_back(std::move(job));
  }
  resolve_cv.notify_one();
}

void log_publisher::publish_async(async_append a) {
  natsMsg* m = nullptr;
  natsStatus s = natsMsg_Create(&m, a.subject.c_str(), nullptr, a.payload.data(),
                                static_cast<int>(a.payload.size()));
  if (s != NATS_OK) return a.done(nats_error("preparing a write", s));
  std::string id = a.id;
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = attempt_wait(std::chrono::duration_cast<std::chrono::milliseconds>(
                                a.until - std::chrono::steady_clock::now()),
                            conn.options.publish_timeout);
  po.MsgId = id.c_str();
  po.ExpectStream = conn.options.stream.c_str();
  if (a.expected == 0) {
    po.ExpectNoMessage = true;
  } else {
    po.ExpectLastSubjectSeq = a.expected;
  }
  {
    std::lock_guard lock(async_mu);
    async_waiting[id] = std::move(a);
  }
  {
    std::lock_guard lock(publish_mu);
    s = js_PublishMsgAsync(js_async, &m, &po);
    if (s == NATS_OK) return;
    if (m != nullptr) release(m);
  }
  std::function<void(domain::result<std::uint64_t>)> failed;
  {
    std::lock_guard lock(async_mu);
    auto it = async_waiting.find(id);
    if (it == async_waiting.end()) return;  // already answered by the handler
    failed = std::move(it->second.done);
    async_waiting.erase(it);
  }
  failed(nats_error("appending a write", s));
}

void log_publisher::on_ack(jsCtx*, natsMsg* m, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
  // The NATS client's delivery thread of the acknowledgements; made by the thread that
  // published first (an actor thread), whose name it would keep.
  infra::name_thread_once("log.acks");
  auto* self = static_cast<log_publisher*>(closure);
  const char* id = nullptr;
  std::string key;
  {
    // The client may call this (the message's MaxWait passed) while js_PublishMsgAsync is
    // still sending the same message on another thread: it is read and destroyed only once
    // that call returned.
    std::lock_guard lock(self->publish_mu);
    if (natsMsgHeader_Get(m, "Nats-Msg-Id", &id) == NATS_OK && id != nullptr) key = id;
    release(m);
  }
  async_append a;
  {
    std::lock_guard lock(self->async_mu);
    auto it = self->async_waiting.find(key);
    if (it == self->async_waiting.end()) return;
    a = std::move(it->second);
    self->async_waiting.erase(it);
  }
  if (pa != nullptr && !pa->Duplicate) return a.done(pa->Sequence);
  if (undecided(pa)) {
    if (std::chrono::steady_clock::now() >= a.until) return a.done(undecided_error());
    // Published again (same id, same expectation) until the first message with the id
    // is decided, within the write's publish timeout.
    auto delay = retry_delay(a.attempts++);
    return self->resolve_after(delay, [self, a = std::move(a)](bool closing) mutable {
      if (closing) return a.done(undecided_error());
      self->publish_async(std::move(a));
    });
  }
  if (pa != nullptr) {
    // The id was claimed before: by this very attempt, or by another node's write.
    std::uint64_t seq = pa->Sequence;
    return self->resolve_later([self, a = std::move(a), seq] {
      auto stored =
          self->stored_is(self->conn.options.stream, a.subject, seq, written_by(a.writer));
      if (!stored) return a.done(std::move(stored).err());
      if (*stored) return a.done(seq);
      a.done(domain::make_error(domain::errc::beaten, a.lost));
    });
  }
  jsErrCode code = pae != nullptr ? pae->ErrCode : jsErrCode(0);
  natsStatus s = pae != nullptr ? pae->Err : NATS_ERR;
  if (worth_again(s, code) && std::chrono::steady_clock::now() < a.until) {
    // Published again (same id, same expectation: stored at most once, see worth_again)
    // once the stream has elected its leader, within the write's publish timeout.
    auto delay = s == NATS_TIMEOUT ? std::chrono::milliseconds(0) : retry_delay(a.attempts++);
    return self->resolve_after(delay, [self, a = std::move(a), s, code](bool closing) mutable {
      if (closing) return a.done(nats_error("appending a write", s, code));
      self->publish_async(std::move(a));
    });
  }
  if (code == JSStreamWrongLastSequenceErr) {
    return self->resolve_later([self, a = std::move(a)] {
      a.done(self->first_after_is_ours(self->conn.options.stream, a.subject, a.expected,
                                       written_by(a.writer), a.lost));
    });
  }
  if (code == JSStreamMessageExceedsMaximumErr) {
    return a.done(domain::make_error(domain::errc::payload_too_large,
                                     "the write is larger than the cluster's 8 MiB message limit"));
  }
  a.done(nats_error("appending a write", s, code));
}

}  // namespace referrald::cluster
