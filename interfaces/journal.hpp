#pragma once

// The journal: where actors append their writes and read back what others appended, one
// interface whatever holds the history. The runtime chooses it once (actors/runtime.cpp):
//
// - embedded: this node's RocksDB (store/embedded_journal.hpp: event_log, commit_queue);
//   nobody else writes, so a write is never beaten and every position is 0;
// - cluster: the NATS JetStream stream (cluster/cluster_journal.hpp: cluster_committer,
//   record_publisher, cluster_log), read back through this node's copy of it
//   (cluster_cache, filled by the follower).
//
// Every implementation passes the conformance suite tests/interfaces/journal_suite.hpp.
//
// Three kinds of writes, each fenced on a position of the history:
// - an account's events: chained on the account's earlier writes; the position is the
//   stream sequence of the account's last write (position());
// - records written one at a time by their actor (API keys, connections): claiming the
//   position of their scope (scope_position());
// - records stored by threads that may wait (AI rows, batch records): claiming the
//   position of their scope when they replace what it holds (claimed()).
//
// A write whose position was taken by another writer first fails with errc::beaten,
// nothing stored: its writer applies what came first and decides the request again (a
// 409 then is a 409 of the new state). errc::conflict is never a journal's answer.
//
// Thread-safe. Callbacks run exactly once, on a thread of the journal's (or the caller's,
// for a write refused at once); they must be quick and must not block.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "domain/base/result.hpp"
#include "domain/rules/event.hpp"
#include "store/db.hpp"

namespace referrald::interfaces {

using store::column;
using store::write_batch;

class journal {
 public:
  using done_fn = std::function<void(const domain::status&)>;

  virtual ~journal() = default;

  // True when other writers (other nodes) append to the same history: a write may be
  // beaten, and its writer keeps each request until its write is done, to make it again.
  virtual bool shared() const = 0;

  // -- An account's events -----------------------------------------------------------
  // Where the account's history stands as this node has applied it (0: no write yet, and
  // always 0 in embedded mode). Read before the events a write is decided on, so that a
  // write never claims a later position than the state it was decided on.
  virtual domain::result<std::uint64_t> position(const std::string& account) const = 0;
  // The account's last event this node has (0: none), and its events from `from` on.
  virtual domain::result<std::uint64_t> head(const std::string& account) const = 0;
  virtual domain::status replay(const std::string& account, std::uint64_t from,
                                const std::function<bool(const domain::event&)>& fn) const = 0;
  // Appends stored event values (encode_event_value) numbered from `first_seq`, chained on
  // the account's writes appended before. `done`: durable (cluster: stored by a quorum of
  // the stream's replicas), or why not. A failed write fails every later one of the
  // account the same way, since they were built on it, until resume().
  virtual void append(const std::string& account, std::uint64_t first_seq,
                      std::vector<std::string> values, done_fn done) = 0;
  // After a beaten write, until resume(): the position it claimed; the write that came
  // first is after it.
  virtual std::optional<std::uint64_t> beaten_at(const std::string& account) = 0;
  // The writer has rolled back and applied the history up to `position` (read with
  // position() before the events): the account's appends are accepted again, claiming it.
  virtual void resume(const std::string& account, std::uint64_t position) = 0;

  // -- Records written one at a time by their actor -------------------------------------
  // The position of `scope` as this node has applied it (0 in embedded mode).
  virtual domain::result<std::uint64_t> scope_position(const std::string& scope) const = 0;
  // Appends the puts of `batch` under `scope` when the scope is at `expected`; `done` once
  // this node has applied them (so the writer reads them back), beaten when another write
  // of the scope came first. Never waits.
  virtual void append_records(std::string scope, const write_batch& batch, std::uint64_t expected,
                              done_fn done) = 0;

  // -- Records stored by threads that may wait ---------------------------------------
  struct claim {
    std::optional<std::string> value;  // the value last put at the key
    std::uint64_t position = 0;        // the position a write replacing it must claim
  };
  // What `scope` holds at (`cf`, `key`), as fresh as the journal can tell (cluster: read
  // from the stream, not the copy).
  virtual domain::result<claim> claimed(const std::string& scope, column cf,
                                        const std::string& key) = 0;
  // Stores the puts of `batch` under `scope`; with `expected`, only when the scope is at
  // that position. Returns beaten (and `done` is not called) when another write of the
  // scope came first; otherwise `done` runs once the write is durable and applied on
  // this node, or failed. Cluster mode: waits for the stream's acknowledgement.
  virtual domain::status store(std::string scope, write_batch batch,
                               std::optional<std::uint64_t> expected, done_fn done) = 0;
};

}  // namespace referrald::interfaces
