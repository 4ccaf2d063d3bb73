#pragma once

// Per-account state snapshots: an account's whole rule state as it stood after event
// `seq`, so that loading it replays only the events after that. The encoding is
// versioned and documented as a grammar at the top of snapshot_store.cpp. Snapshots are
// derived data: losing or corrupting one costs only time (the loader falls back to an
// older one or to the full log), never state.
//
// Thread-safety: every method is const and safe from any thread; writes go through a
// write_batch.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "domain/base/result.hpp"
#include "domain/rules/account_state.hpp"
#include "store/db.hpp"

namespace referrald::snapshots {

// -- codec (exposed for tests and verification) --------------------------------------

std::string encode_snapshot_key(std::string_view account_id, std::uint64_t seq);
// `size_hint`: the bytes to reserve for the encoding (its likely size).
std::string encode_snapshot(const domain::account_state& state, std::size_t size_hint = 0);

// Decodes a stored snapshot of `account_id` taken at `seq`: checks the format version and
// the CRC, and rebuilds the state (entities decoded, regexes compiled). Errors are
// `internal` and say what is wrong.
domain::result<domain::account_state> decode_snapshot(std::string_view account_id,
                                                      std::uint64_t seq, std::string_view value);

// What a stored snapshot is, read without decoding its entities.
struct snapshot_info {
  std::string account_id;
  std::uint64_t seq = 0;
  domain::unix_ms last_timestamp = 0;  // of event `seq`; 0 when unreadable
  std::size_t bytes = 0;
  bool readable = false;  // version and CRC check
};

// Whether an account whose state holds `rules` rules (active or not) is due a snapshot
// `events_since` events after its last one, given --snapshot-every `every` (0: never).
// A snapshot costs O(rules) to write, so a large account takes one every rules/2 events
// when that is more than `every`: writing snapshots then costs at most about two rules'
// encoding per event, and loading replays a tail at most half the state's size. A tail
// costs a load little beside the snapshot's own decoding: its events are folded keeping
// only each entity's last object, and the survivors are decoded once, as a snapshot's are.
bool snapshot_due(std::uint64_t events_since, std::size_t rules, std::uint64_t every);

// -- store ---------------------------------------------------------------------------

class snapshot_store {
 public:
  // How many snapshots per account are kept: the newest ones.
  static constexpr std::size_t keep = 3;

  explicit snapshot_store(const store::db& d) : db_(&d) {}

  // Adds the put of a snapshot of `state` (seq() > 0) to `batch`, and the erasure of the
  // account's snapshots older than the `keep` newest (counting this one).
  domain::status put(store::write_batch& batch, const domain::account_state& state) const;

  // The account's snapshots, oldest first.
  domain::result<std::vector<snapshot_info>> list(std::string_view account_id) const;
  // Every account's snapshots, by account then seq.
  domain::result<std::vector<snapshot_info>> list_all() const;

  // The stored bytes of one snapshot; nullopt when absent.
  domain::result<std::optional<std::string>> read(std::string_view account_id,
                                                  std::uint64_t seq) const;

 private:
  // `check_bodies` false: keys and sizes only (readable and last_timestamp left unset).
  domain::result<std::vector<snapshot_info>> scan(std::string_view from, std::string_view until,
                                                  bool check_bodies) const;
  const store::db* db_;
};

}  // namespace referrald::snapshots
