#pragma once

// The bookkeeping an actor needs between handing writes to the commit queue and their
// durable acknowledgement, shared by every actor that writes (accounts, keys).
//
// An actor may have several writes in flight. Each gets a ticket; the commit queue
// acknowledges tickets in order (commit_ack). On success the acknowledged items are
// applied to the actor's durable state in order, the state is published once, and only
// then are their replies delivered — so a client that got an answer finds the change in
// effect. On failure every write in flight is answered `unavailable` (they were built on
// the failed one) and the actor rolls its speculative state back; the commit queue
// refuses later writes, so no later write can be durable without an earlier one.
//
// Not thread-safe: owned by one actor and used from its handlers only.

#include <caf/send.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "actors/reply.hpp"
#include "actors/type_ids.hpp"
#include "store/commit_queue.hpp"
#include "store/record_publisher.hpp"

namespace referrald::actors {

// Sends `self` the commit_ack of write `ticket`, done (ok) or failed.
template <class Handle>
void acknowledge(const Handle& self, std::uint64_t ticket, const domain::status& s) {
  commit_ack ack{ticket, s.ok(), 0, {}};
  if (!s.ok()) {
    ack.code = static_cast<std::uint8_t>(s.err().code);
    ack.error = s.err().message;
  }
  caf::anon_send(self, std::move(ack));
}

template <class Item>
class write_pipeline {
 public:
  // The actor's stream in the commit queue ("account:acme", "keys"...): its writes
  // build on each other.
  explicit write_pipeline(std::string stream = {}) : stream_(std::move(stream)) {}
  void set_stream(std::string stream) { stream_ = std::move(stream); }

  // Tracks a write and submits `batch`; the acknowledgement arrives at `self` as a
  // commit_ack. `response` is delivered to `reply` once the write is durable, with `seq`
  // (an account's sequence number after the write; 0 for other writes).
  template <class Handle>
  void submit(store::commit_queue& commits, const Handle& self, store::write_batch batch, Item item,
              reply_to reply, std::string response, std::uint64_t seq = 0) {
    commits_ = &commits;
    std::uint64_t ticket = track(std::move(item), std::move(reply), std::move(response), seq);
    commits.submit(
        std::move(batch), [self, ticket](const domain::status& s) { acknowledge(self, ticket, s); },
        stream_);
  }

  // The same onto a cluster's stream: `values` are the write's stored events, numbered
  // from `first_seq`.
  template <class Handle>
  void submit(store::cluster_committer& cluster, const Handle& self, const std::string& account_id,
              std::uint64_t first_seq, std::vector<std::string> values, Item item, reply_to reply,
              std::string response) {
    std::uint64_t ticket = track(std::move(item), std::move(reply), std::move(response),
                                 first_seq + values.size() - 1);
    cluster.submit(account_id, first_seq, std::move(values),
                   [self, ticket](const domain::result<std::uint64_t>& r) {
                     acknowledge(self, ticket, r ? domain::status{} : domain::status(r.err()));
                   });
  }

  // The item of the write submitted last, while it is in flight (nullptr when none is).
  Item* last_submitted() {
    return inflight_.empty() || !inflight_.back().item ? nullptr : &*inflight_.back().item;
  }

  // True when no write is waiting for its acknowledgement.
  bool empty() const { return inflight_.empty(); }

  // Delivers `response` now, or after the writes in flight when there are any (an answer
  // that changes nothing but must not overtake earlier writes).
  // `redo` (optional) makes the request again, should the writes it waits for fail in a
  // way that calls for it (see on_ack's `retry`).
  void answer_after_inflight(reply_to reply, std::string response, std::uint64_t seq = 0,
                             std::function<void()> redo = {}) {
    if (inflight_.empty()) {
      reply->deliver(std::move(response), seq);
      return;
    }
    inflight_.push_back(entry{last_ticket_, std::nullopt, std::move(reply), std::move(response),
                              seq, std::move(redo)});
  }

  // `apply(Item&) -> domain::status` folds one durable item into the durable state;
  // `publish()` runs once after a group that changed something; `rollback()` resets the
  // speculative state to the durable one after a failure.
  // `retry(Item&) -> bool`, after a failure: true when the item's request will be made
  // again (a cluster conflict: after catching up), so that its reply is not answered now;
  // also called with the redo function of an answer that only waited (an answer made on
  // the failed writes, which must be made again too).
  template <class Apply, class Publish, class Rollback, class Retry>
  void on_ack(const commit_ack& ack, Apply&& apply, Publish&& publish, Rollback&& rollback,
              Retry&& retry) {
    if (ack.ok) {
      std::vector<entry> done;
      while (!inflight_.empty() && inflight_.front().ticket <= ack.ticket) {
        done.push_back(std::move(inflight_.front()));
        inflight_.pop_front();
      }
      bool changed = false;
      for (auto& e : done) {
        if (!e.item) continue;
        if (auto applied = apply(*e.item); !applied) {
          e.reply->deliver(std::move(applied).err());
        } else {
          changed = true;
        }
      }
      if (changed) publish();
      for (auto& e : done)
        e.reply->deliver(std::move(e.response), e.seq);
      return;
    }
    if (ack.ticket <= failed_through_) return;  // already failed with an earlier ticket
    auto code = static_cast<domain::errc>(ack.code);
    for (auto& e : inflight_) {
      if (e.item ? retry(*e.item) : (e.redo && retry(e.redo))) continue;
      e.reply->deliver(domain::make_error(code, e.ticket == ack.ticket
                                                    ? ack.error
                                                    : "an earlier change this one builds on was "
                                                      "not stored: " +
                                                          ack.error));
    }
    inflight_.clear();
    failed_through_ = last_ticket_;
    rollback();
    if (commits_ != nullptr && !stream_.empty()) commits_->resume(stream_);
  }

 private:
  std::uint64_t track(Item item, reply_to reply, std::string response, std::uint64_t seq) {
    std::uint64_t ticket = ++last_ticket_;
    inflight_.push_back(
        entry{ticket, std::move(item), std::move(reply), std::move(response), seq, {}});
    return ticket;
  }
  struct entry {
    std::uint64_t ticket = 0;
    std::optional<Item> item;  // empty for an answer that only waits
    reply_to reply;
    std::string response;
    std::uint64_t seq = 0;
    std::function<void()> redo;  // an answer that only waits: makes its request again
  };

  std::string stream_;
  store::commit_queue* commits_ = nullptr;
  std::deque<entry> inflight_;
  std::uint64_t last_ticket_ = 0;
  std::uint64_t failed_through_ = 0;
};

}  // namespace referrald::actors

namespace referrald::actors {

// Cluster mode: an actor's writes of records in flight (API keys, connections; see
// store/record_publisher.hpp). Unlike write_pipeline's, they do not build on each other:
// each is acknowledged on its own (a commit_ack with its ticket), once this node has
// applied it, and the actor reads its durable state back from the store then.
template <class Item>
class record_writes {
 public:
  struct write {
    Item item;
    reply_to reply;
    std::string response;
  };

  // Publishes the puts of `batch` under `scope` (expecting the scope's last message at
  // `expected`, when set); the acknowledgement arrives at `self`.
  template <class Handle>
  void submit(store::record_publisher& records, const Handle& self, std::string scope,
              const store::write_batch& batch, std::optional<std::uint64_t> expected, Item item,
              reply_to reply, std::string response) {
    std::uint64_t ticket = ++last_ticket_;
    pending_.emplace(ticket, write{std::move(item), std::move(reply), std::move(response)});
    records.submit(std::move(scope), batch, expected,
                   [self, ticket](const domain::result<std::uint64_t>& r) {
                     acknowledge(self, ticket, r ? domain::status{} : domain::status(r.err()));
                   });
  }

  // The write `ack` acknowledges, no longer pending (nullopt when it is not one of them).
  std::optional<write> take(const commit_ack& ack) {
    auto it = pending_.find(ack.ticket);
    if (it == pending_.end()) return std::nullopt;
    write w = std::move(it->second);
    pending_.erase(it);
    return w;
  }

  // Calls fn(const Item&) for each write in flight, in submission order.
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (const auto& [ticket, w] : pending_)
      fn(w.item);
  }

 private:
  std::map<std::uint64_t, write> pending_;  // by ticket
  std::uint64_t last_ticket_ = 0;
};

}  // namespace referrald::actors
