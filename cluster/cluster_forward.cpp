#include "cluster/cluster_forward.hpp"

#include <charconv>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cluster/cluster_native.hpp"
#include "infra/thread_name.hpp"

namespace referrald::cluster {

namespace {

constexpr const char* k_forward_header = "Referrald-Forward";
constexpr const char* k_remote_header = "Referrald-Remote";
constexpr const char* k_applied_header = "Referrald-Applied";

std::string header(natsMsg* m, const char* name) {
  const char* v = nullptr;
  if (natsMsgHeader_Get(m, name, &v) != NATS_OK || v == nullptr) return {};
  return v;
}

domain::error forward_error(std::string_view what, natsStatus s) {
  return domain::make_error(domain::errc::unavailable, "forwarding writes: " + std::string(what) +
                                                           ": " + natsStatus_GetText(s));
}

}  // namespace

struct cluster_forward::impl {
  // What the answers of requests served here need, past the life of this object: an
  // answer given after close() is dropped.
  struct link {
    std::mutex mu;
    natsConnection* nc = nullptr;
  };
  std::shared_ptr<link> conn = std::make_shared<link>();
  std::string subject_prefix;  // "referrald-fwd." stream "."
  std::string node_subject;
  natsInbox* inbox = nullptr;
  natsSubscription* replies = nullptr;

  std::mutex serve_mu;
  natsSubscription* requests = nullptr;
  serve_fn serve;
  std::function<bool()> taking;  // under serve_mu
  // Requests taken here and not answered yet, by an id of this node's: told "working"
  // every second, so that their senders wait as long as they run and no longer.
  struct served {
    std::mutex mu;
    std::unordered_map<std::uint64_t, std::string> replies;
    std::uint64_t next = 0;
    // One request in `replies` from its taking until it is answered, or its answer is
    // dropped unanswered (the last copy of the answer function goes).
    class running {
     public:
      running(std::shared_ptr<served> s, std::string reply) : s_(std::move(s)) {
        std::lock_guard lock(s_->mu);
        id_ = ++s_->next;
        s_->replies.emplace(id_, std::move(reply));
      }
      ~running() { done(); }
      running(const running&) = delete;
      running& operator=(const running&) = delete;
      void done() {
        std::lock_guard lock(s_->mu);
        s_->replies.erase(id_);
      }

     private:
      std::shared_ptr<served> s_;
      std::uint64_t id_ = 0;
    };
  };
  std::shared_ptr<served> serving = std::make_shared<served>();
  std::chrono::steady_clock::time_point last_working{};

  struct pending {
    std::function<void(result)> done;
    bool taken = false;
    std::chrono::steady_clock::time_point deadline;
    std::chrono::milliseconds answer_within{0};
  };
  std::mutex mu;
  std::condition_variable cv;
  std::unordered_map<std::uint64_t, pending> waiting;
  std::uint64_t next_token = 0;
  bool stopping = false;
  std::thread timer;

  ~impl() {
    {
      std::lock_guard lock(conn->mu);
      conn->nc = nullptr;
    }
    {
      std::lock_guard lock(mu);
      stopping = true;
    }
    cv.notify_all();
    if (timer.joinable()) timer.join();
    // Drained, not only unsubscribed: a callback still running on a delivery thread
    // finishes before this object goes.
    for (natsSubscription* sub : {requests, replies}) {
      if (sub == nullptr) continue;
      natsSubscription_Drain(sub);  // already draining after stop_serving(): no matter
      natsSubscription_WaitForDrainCompletion(sub, 2000);
      natsSubscription_Destroy(sub);
    }
    if (inbox != nullptr) natsInbox_Destroy(inbox);
    // What is still waiting gets its answer: not taken, since nothing more will come.
    for (auto& [token, p] : waiting)
      p.done(result{outcome::timed_out, {}, 0});
  }

  // The sender's side: a reply to one of its requests.
  static void on_reply(natsConnection*, natsSubscription*, natsMsg* m, void* closure) {
    infra::name_thread_once("forward.reply");
    auto* self = static_cast<impl*>(closure);
    std::string_view subject = natsMsg_GetSubject(m);
    std::uint64_t token = 0;
    auto dot = subject.rfind('.');
    auto tail = subject.substr(dot == std::string_view::npos ? 0 : dot + 1);
    std::from_chars(tail.data(), tail.data() + tail.size(), token);
    std::function<void(result)> done;
    result r;
    {
      std::lock_guard lock(self->mu);
      auto it = self->waiting.find(token);
      if (it == self->waiting.end()) {
        release(m);
        return;
      }
      if (natsMsg_IsNoResponders(m)) {
        r.how = outcome::not_taken;
      } else if (auto h = header(m, k_forward_header); h == "taken" || h == "working") {
        it->second.taken = true;
        it->second.deadline = std::chrono::steady_clock::now() + it->second.answer_within;
        release(m);
        return;
      } else {
        r.how = outcome::answered;
        r.response.assign(natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m)));
        std::string applied = header(m, k_applied_header);
        std::from_chars(applied.data(), applied.data() + applied.size(), r.applied);
      }
      done = std::move(it->second.done);
      self->waiting.erase(it);
    }
    release(m);
    done(std::move(r));
  }

  // The owner's side: a request for this node.
  static void on_request(natsConnection* nc, natsSubscription*, natsMsg* m, void* closure) {
    infra::name_thread_once("forward.in");
    auto* self = static_cast<impl*>(closure);
    const char* reply = natsMsg_GetReply(m);
    if (reply == nullptr || *reply == '\0') {
      release(m);
      return;
    }
    std::function<bool()> taking;
    {
      std::lock_guard lock(self->serve_mu);
      taking = self->taking;
    }
    if (taking && !taking()) {
      release(m);
      return;
    }
    // Taken at once, before anything of the write runs: a sender that hears nothing within
    // its take bound may write itself only because nothing ran here.
    natsMsg* taken = nullptr;
    if (natsMsg_Create(&taken, reply, nullptr, nullptr, 0) == NATS_OK) {
      natsMsgHeader_Set(taken, k_forward_header, "taken");
      natsConnection_PublishMsg(nc, taken);
      release(taken);
    }
    auto running = std::make_shared<served::running>(self->serving, reply);
    incoming in;
    in.request.assign(natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m)));
    in.remote = header(m, k_remote_header);
    answer_fn answer = [conn = self->conn, running, to = std::string(reply)](
                           std::string response, std::uint64_t applied) {
      // Answered: no "working" any more (one the timer already took reaches the sender
      // after the answer, which drops it).
      running->done();
      std::lock_guard lock(conn->mu);
      if (conn->nc == nullptr) return;
      natsMsg* out = nullptr;
      if (natsMsg_Create(&out, to.c_str(), nullptr, response.data(),
                         static_cast<int>(response.size())) != NATS_OK) {
        return;
      }
      natsMsgHeader_Set(out, k_applied_header, std::to_string(applied).c_str());
      natsConnection_PublishMsg(conn->nc, out);
      release(out);
    };
    release(m);
    serve_fn fn;
    {
      std::lock_guard lock(self->serve_mu);
      fn = self->serve;
    }
    if (fn) fn(std::move(in), std::move(answer));
  }

  void tell_working() {
    std::vector<std::string> to;
    {
      std::lock_guard lock(serving->mu);
      for (const auto& [id, reply] : serving->replies)
        to.push_back(reply);
    }
    if (to.empty()) return;
    std::lock_guard lock(conn->mu);
    if (conn->nc == nullptr) return;
    for (const auto& reply : to) {
      natsMsg* m = nullptr;
      if (natsMsg_Create(&m, reply.c_str(), nullptr, nullptr, 0) != NATS_OK) continue;
      natsMsgHeader_Set(m, k_forward_header, "working");
      natsConnection_PublishMsg(conn->nc, m);
      release(m);
    }
  }

  void run_timer() {
    std::unique_lock lock(mu);
    while (!stopping) {
      cv.wait_for(lock, std::chrono::milliseconds(20));
      auto now = std::chrono::steady_clock::now();
      if (now - last_working >= std::chrono::seconds(1)) {
        last_working = now;
        lock.unlock();
        tell_working();
        lock.lock();
      }
      std::vector<std::pair<std::function<void(result)>, outcome>> due;
      for (auto it = waiting.begin(); it != waiting.end();) {
        if (now >= it->second.deadline) {
          due.emplace_back(std::move(it->second.done),
                           it->second.taken ? outcome::timed_out : outcome::not_taken);
          it = waiting.erase(it);
        } else {
          ++it;
        }
      }
      if (due.empty()) continue;
      lock.unlock();
      for (auto& [done, how] : due)
        done(result{how, {}, 0});
      lock.lock();
    }
  }
};

cluster_forward::cluster_forward(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

cluster_forward::~cluster_forward() = default;

domain::result<std::unique_ptr<cluster_forward>> cluster_forward::open(cluster_log& log,
                                                                       const std::string& node) {
  auto p = std::make_unique<impl>();
  natsConnection* nc = cluster_native::connection(log);
  p->conn->nc = nc;
  p->subject_prefix = "referrald-fwd." + cluster_native::options(log).stream + ".";
  p->node_subject = p->subject_prefix + node;
  natsStatus s = natsInbox_Create(&p->inbox);
  if (s != NATS_OK) return forward_error("making an inbox", s);
  std::string replies = std::string(p->inbox) + ".*";
  s = natsConnection_Subscribe(&p->replies, nc, replies.c_str(), &impl::on_reply, p.get());
  if (s != NATS_OK) return forward_error("subscribing the inbox", s);
  natsSubscription_SetPendingLimits(p->replies, -1, -1);
  p->timer = std::thread([raw = p.get()] {
    infra::name_thread("forward.timer");
    raw->run_timer();
  });
  return std::unique_ptr<cluster_forward>(new cluster_forward(std::move(p)));
}

domain::status cluster_forward::serve(serve_fn fn, std::function<bool()> taking) {
  std::lock_guard lock(impl_->serve_mu);
  impl_->serve = std::move(fn);
  impl_->taking = std::move(taking);
  if (impl_->requests != nullptr) return {};
  natsConnection* nc = nullptr;
  {
    std::lock_guard c(impl_->conn->mu);
    nc = impl_->conn->nc;
  }
  natsStatus s = natsConnection_Subscribe(&impl_->requests, nc, impl_->node_subject.c_str(),
                                          &impl::on_request, impl_.get());
  if (s != NATS_OK) {
    impl_->requests = nullptr;
    return forward_error("subscribing " + impl_->node_subject, s);
  }
  natsSubscription_SetPendingLimits(impl_->requests, -1, -1);
  return {};
}

void cluster_forward::stop_serving() {
  std::lock_guard lock(impl_->serve_mu);
  if (impl_->requests == nullptr) return;
  // Drained: unsubscribed now (a request sent from here on finds no responder, and its
  // sender writes itself). What the client still hands on (delivered before, queued behind
  // the request being served) is not taken either: left silent, each is written by its
  // sender once its take bound passes, where taken it could reach a server whose loops have
  // ended, and its sender would answer 503 after the bound.
  impl_->taking = [] {
    return false;
  };
  natsSubscription_Drain(impl_->requests);
}

void cluster_forward::send(const std::string& node, std::string_view request,
                           std::string_view remote, std::chrono::milliseconds take_within,
                           std::chrono::milliseconds answer_within,
                           std::function<void(result)> done) {
  std::uint64_t token = 0;
  {
    std::lock_guard lock(impl_->mu);
    token = ++impl_->next_token;
    auto& p = impl_->waiting[token];
    p.done = std::move(done);
    p.deadline = std::chrono::steady_clock::now() + take_within;
    p.answer_within = answer_within;
  }
  std::string subject = impl_->subject_prefix + node;
  std::string reply = std::string(impl_->inbox) + "." + std::to_string(token);
  natsMsg* m = nullptr;
  natsStatus s = natsMsg_Create(&m, subject.c_str(), reply.c_str(), request.data(),
                                static_cast<int>(request.size()));
  if (s == NATS_OK) s = natsMsgHeader_Set(m, k_remote_header, std::string(remote).c_str());
  natsConnection* nc = nullptr;
  {
    std::lock_guard c(impl_->conn->mu);
    nc = impl_->conn->nc;
  }
  if (s == NATS_OK && nc != nullptr) s = natsConnection_PublishMsg(nc, m);
  if (m != nullptr) release(m);
  if (s == NATS_OK && nc != nullptr) return;
  // Not sent: not taken.
  std::function<void(result)> failed;
  {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->waiting.find(token);
    if (it == impl_->waiting.end()) return;
    failed = std::move(it->second.done);
    impl_->waiting.erase(it);
  }
  failed(result{outcome::not_taken, {}, 0});
}

}  // namespace referrald::cluster
