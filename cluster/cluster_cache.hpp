#pragma once

// A node's local copy of the cluster's stream (cluster mode): the events of every write it
// has applied, in its own RocksDB, in exactly the embedded layout (the `events` column of
// store/event_log.cpp), so that loading accounts, snapshots, `as_of` reads, audits and
// backups work on it unchanged. Two records in the `default` column say how far it got:
//
//   "cluster.applied"         := stream_seq:fixed64   the last write applied, in stream
//                                                      order; a restarted node follows
//                                                      the stream from the next one
//   "cluster.head." account   := stream_seq:fixed64    the stream sequence of the
//                                                      account's last write (what its
//                                                      next write expects)
//   "cluster.scope." scope    := stream_seq:fixed64    the stream sequence of the last
//                                                      records of a scope ("keys",
//                                                      "connections.42"...): the position a
//                                                      write decided on this copy claims
//   "cluster.scopes"          := ""                    present once every scope's head is
//                                                      kept (a copy made by release 0.3
//                                                      has its heads filled in at start)
//   "cluster.diverged"        := stream_seq:fixed64    the copy applied a message the
//                                                      stream does not hold (found by the
//                                                      follower's confirmation): set aside
//                                                      and filled anew at the next start
//   "cluster.rebuilt"         := unix_ms:fixed64       when this copy was started anew
//                                                      after one that differed
//   "cluster.refills"         := count:fixed64         how many copies this data
//                                                      directory has filled anew (carried
//                                                      over; absent: none)
//
// Both are written in the same atomic batch as the write's events (records: their puts,
// in the `keys`, `connections`, `ai_rows`, `ai_batches` columns and admin audit entries in the
// default one, with "cluster.applied"); messages applied together (add(), commit()) share
// one batch. Not
// synced: the stream is the durable copy, and a crash only makes the node apply the last writes
// again.
//
// One writer (the node's follower); readers on any thread.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cluster/cluster_log.hpp"
#include "domain/base/digest.hpp"
#include "domain/base/result.hpp"
#include "domain/rules/event.hpp"
#include "store/db.hpp"

namespace referrald::cluster {

class cluster_cache {
 public:
  explicit cluster_cache(store::db& d) : db_(&d) {}

  // Whether the database is a cluster node's copy (it has applied the stream).
  domain::result<bool> is_copy() const;

  // The stream sequence of the last write applied (0: none).
  domain::result<std::uint64_t> applied() const;

  // The stream sequence of the account's last write (0: none cached).
  domain::result<std::uint64_t> stream_head(std::string_view account_id) const;

  // The stream sequence of the last records of `scope` applied here (0: none). Read it
  // before the state a write is decided on: the write then claims a position no later
  // than what the decision saw, and the stream refuses it when another came between.
  domain::result<std::uint64_t> scope_head(std::string_view scope) const;

  // Whether every scope's head is kept (see "cluster.scopes"); a copy without it gets
  // `heads` (scope, stream sequence of its last records, at most applied()) recorded,
  // before the follower starts.
  domain::result<bool> scopes_kept() const;
  domain::status keep_scopes(const std::vector<std::pair<std::string, std::uint64_t>>& heads);

  // The stream sequence at which the copy was found to differ from the stream (0: it
  // was not); mark_diverged() records it, synced.
  domain::result<std::uint64_t> diverged() const;
  domain::status mark_diverged(std::uint64_t seq);
  // When the copy was started anew after one that differed (0: never), and how many times
  // the node's data directory had to fill a new copy so far (0: never; carried from the
  // copy set aside into the new one). mark_rebuilt() records both, synced.
  domain::result<std::uint64_t> rebuilt_at() const;
  domain::result<std::uint64_t> refills() const;
  domain::status mark_rebuilt(std::uint64_t unix_ms, std::uint64_t refills);

  // Applies the next write of the stream: its events must continue the account's cached
  // history (the next sequence numbers, the chain from its last hash, each event intact).
  // A write at or before applied() is skipped (seen before a restart). store_corrupted,
  // naming the write, when it does not fit; nothing is then written.
  domain::status apply(const cluster_write& w);

  // Applies the next records of the stream: writes their puts as they are, with
  // applied() (skipped when at or before it).
  domain::status apply(const cluster_records& r);

  // apply() in groups: add() checks the next message as apply() does and adds it to the
  // open group, which commit() writes as one batch (each account's and scope's head and
  // "cluster.applied" once) — nothing of the group is in the copy, nor read from it,
  // before. A message that does not fit leaves the group as it was. After a failed
  // commit nothing of the group is written, and the next message is checked against what
  // the copy holds. The follower's messages that came together cost one write.
  // `decoded` (optional) gets the write's events as add() decoded and checked them
  // (none for a write skipped as seen before).
  //
  // A later message holding events the copy holds already, byte for byte (a write
  // published again without its fence: no node does), is a repeat. Its events are not
  // applied again, but the account's stream head moves to it, as the stream's fence for the
  // account's next write has; `decoded` gets none of them, and `repeated` (optional) is set.
  domain::status add(const cluster_write& w, std::vector<domain::event>* decoded = nullptr,
                     bool* repeated = nullptr);
  domain::status add(const cluster_records& r);
  domain::status commit();
  // Messages and bytes of events and records in the open group.
  std::size_t grouped() const { return group_messages_; }
  std::size_t grouped_bytes() const { return group_.byte_size(); }

 private:
  // What apply() (or add()) applied last, so that the next write needs no read of the
  // copy: applied(), and each recent account's last event (sequence number and hash).
  // Touched by the one writer only; at most k_remembered accounts, forgotten all at once
  // past that when a group is committed, and after any failure (then read from the copy
  // again). Never forgotten while a group is open: the copy lacks what the group holds.
  domain::result<bool> repeats_applied(const cluster_write& w, std::uint64_t head,
                                       const domain::sha256_digest& head_hash);

  struct applied_head {
    std::uint64_t seq = 0;
    domain::sha256_digest hash{};
  };
  static constexpr std::size_t k_remembered = 4096;
  domain::result<std::uint64_t> applied_for_write();

  // Forgets what is remembered: read from the copy again.
  void forget();

  store::db* db_;
  std::optional<std::uint64_t> applied_;  // the group's last message when one is open
  std::unordered_map<std::string, applied_head> heads_;
  // The open group: its events and records, and the heads commit() writes with them.
  store::write_batch group_;
  std::size_t group_messages_ = 0;
  std::unordered_map<std::string, std::uint64_t> group_heads_;   // account: stream seq
  std::unordered_map<std::string, std::uint64_t> group_scopes_;  // scope: stream seq
};

}  // namespace referrald::cluster
