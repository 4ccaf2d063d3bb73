#pragma once

// The bookkeeping of an account actor's writes, between handing them to the journal
// (interfaces/journal.hpp) and their durable acknowledgement; and fenced_records, the same for
// the actors that write records one at a time (keys, connections).
//
// An actor may have several writes in flight. Each gets a ticket; the journal acknowledges
// an account's writes in order (commit_ack). On success the acknowledged items are
// applied to the actor's durable state in order, the state is published once, and only
// then are their replies delivered — so a client that got an answer finds the change in
// effect. On failure every write in flight is answered with the failure, or kept to be
// made again when it was beaten (they were built on the failed one), and the actor rolls
// its speculative state back; the journal refuses the account's later writes until the
// actor has caught up and resumed it, so no later write can be durable without an
// earlier one.
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
#include "interfaces/journal.hpp"

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
  // Tracks a write and appends `values` (the account's stored events, numbered from
  // `first_seq`) to the journal; the acknowledgement arrives at `self` as a commit_ack.
  // `response` is delivered to `reply` once the write is durable, with the account's
  // sequence number after the write.
  template <class Handle>
  void submit(interfaces::journal& journal, const Handle& self, const std::string& account_id,
              std::uint64_t first_seq, std::vector<std::string> values, Item item, reply_to reply,
              answer response) {
    std::uint64_t ticket = track(std::move(item), std::move(reply), std::move(response),
                                 first_seq + values.size() - 1);
    journal.append(account_id, first_seq, std::move(values),
                   [self, ticket](const domain::status& s) { acknowledge(self, ticket, s); });
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
  void answer_after_inflight(reply_to reply, answer response, std::uint64_t seq = 0,
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
  // again (a beaten write: after catching up), so that its reply is not answered now;
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
  }

 private:
  std::uint64_t track(Item item, reply_to reply, answer response, std::uint64_t seq) {
    std::uint64_t ticket = ++last_ticket_;
    inflight_.push_back(
        entry{ticket, std::move(item), std::move(reply), std::move(response), seq, {}});
    return ticket;
  }
  struct entry {
    std::uint64_t ticket = 0;
    std::optional<Item> item;  // empty for an answer that only waits
    reply_to reply;
    answer response;
    std::uint64_t seq = 0;
    std::function<void()> redo;  // an answer that only waits: makes its request again
  };

  std::deque<entry> inflight_;
  std::uint64_t last_ticket_ = 0;
  std::uint64_t failed_through_ = 0;
};

}  // namespace referrald::actors

namespace referrald::actors {

// An actor's writes of records (API keys, connections), one at a time. A request is an
// attempt: it reads the position of its scope in the journal (scope_position: in cluster
// mode, in this node's copy of the stream), then the state it decides on, and writes
// claiming that position. The journal refuses the write when another writer's write to
// the scope came between (beaten: another node's); the actor then makes the attempt
// again, a moment later, on what the node has applied by then — a rename of a key revoked
// meanwhile finds it gone, the second revocation of the last admin key finds the first.
// Requests that come while a write is in flight wait their turn, in order. A write is
// acknowledged (a commit_ack with its ticket) once this node has applied it.
template <class Item>
class fenced_records {
 public:
  using attempt = std::function<void()>;
  // Attempts of one request at most: beaten each time means another node keeps writing
  // the scope, and the request is answered unavailable.
  static constexpr int max_attempts = 100;

  struct write {
    Item item;
    reply_to reply;
    answer response;
    bool redo = true;  // made again when beaten (else dropped: a usage record)
  };

  // Runs `a` now, or once the attempts before it are done.
  void run(attempt a) {
    waiting_.push_back(std::move(a));
    if (!current_) next();
  }

  // Called by the attempt running: appends the puts of `batch` under `scope`, claiming
  // the position `expected`; the acknowledgement arrives at `self`.
  template <class Handle>
  void submit(interfaces::journal& journal, const Handle& self, std::string scope,
              const store::write_batch& batch, std::uint64_t expected, Item item, reply_to reply,
              answer response, bool redo = true) {
    std::uint64_t ticket = ++last_ticket_;
    pending_.emplace(ticket, write{std::move(item), std::move(reply), std::move(response), redo});
    in_flight_ = true;
    journal.append_records(
        std::move(scope), batch, expected,
        [self, ticket](const domain::status& s) { acknowledge(self, ticket, s); });
  }

  // The write `ack` acknowledges, no longer pending (nullopt when it is not one of them).
  std::optional<write> take(const commit_ack& ack) {
    auto it = pending_.find(ack.ticket);
    if (it == pending_.end()) return std::nullopt;
    write w = std::move(it->second);
    pending_.erase(it);
    return w;
  }

  // The write in flight is over (answered or dropped): the next request's attempt runs.
  void done() {
    current_ = nullptr;
    in_flight_ = false;
    next();
  }

  // Whether the attempt in flight may be made again.
  bool can_retry() const { return current_ && tries_ < max_attempts; }

  // Makes the attempt in flight again (after it was beaten); false, with nothing done, once
  // it was made max_attempts times.
  bool again() {
    if (!current_ || tries_ >= max_attempts) return false;
    ++tries_;
    in_flight_ = false;
    attempt a = current_;
    a();
    if (!in_flight_) done();
    return true;
  }

  // Calls fn(const Item&) for the write in flight, if any.
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (const auto& [ticket, w] : pending_)
      fn(w.item);
  }

 private:
  void next() {
    while (!current_ && !waiting_.empty()) {
      current_ = std::move(waiting_.front());
      waiting_.pop_front();
      tries_ = 1;
      in_flight_ = false;
      attempt a = current_;
      a();
      if (!in_flight_) current_ = nullptr;
    }
  }

  std::deque<attempt> waiting_;
  attempt current_;  // the request whose attempt is running or in flight
  bool in_flight_ = false;
  int tries_ = 0;
  std::map<std::uint64_t, write> pending_;  // by ticket
  std::uint64_t last_ticket_ = 0;
};

}  // namespace referrald::actors
