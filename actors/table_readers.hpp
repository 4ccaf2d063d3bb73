#pragma once

// Cluster mode: how far the tables that reads use (API keys, AI connections) follow the
// node's copy of the stream.
//
// The keys and connections actors publish those tables. When the follower has applied a
// message of theirs, the runtime tells the actor (a message), which reads the copy again and
// publishes what it read. Until it has, the copy holds the message but reads do not see it:
// a write answered "applied here" in that moment would not be found by a read sent to the
// same node next (docs/cluster.md, "Owners"). A position of the stream counts as applied for
// reads once the copy holds it and each actor has read the copy again after every message of
// its own up to it.
//
// The actors' mailboxes keep the order in which they were told, so the n-th reading
// reported is the answer to the n-th telling (told() is called before the message is sent).
// Thread-safe; callbacks run outside the lock, on the thread that made them due.

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>

#include "domain/base/position_waits.hpp"

namespace referrald::actors {

class table_readers {
 public:
  enum reader : std::size_t { keys = 0, connections = 1 };

  // `copy_applied`: the last position the node's copy holds.
  explicit table_readers(std::function<std::uint64_t()> copy_applied);

  // Before reader `r` is told to read the copy again: it has not read it since the copy
  // came to hold position `seq` (at least 1).
  void told(reader r, std::uint64_t seq);
  // Reader `r` read the copy again, answering its oldest telling still unanswered.
  void read(reader r);

  // The last position of the stream that reads on this node see.
  std::uint64_t through() const;
  // Calls `fn(true)` once through() >= seq, at once when it already is; `seq` is a position
  // the copy already holds (what is waited for here is the readers). `fn(false)` at close().
  void when_through(std::uint64_t seq, std::function<void(bool)> fn);
  // Answers every wait `false`, and later ones at once.
  void close();

 private:
  std::uint64_t through_locked() const;

  std::function<std::uint64_t()> copy_applied_;
  mutable std::mutex mu_;
  std::array<std::deque<std::uint64_t>, 2> unread_;  // by reader: the positions told, in order
  domain::position_waits<std::function<void(bool)>> waiting_;
  bool closed_ = false;
};

}  // namespace referrald::actors
