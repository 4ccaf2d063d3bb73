#pragma once

// Auditing a whole store: every account's event chain (gap-free sequence numbers from 1,
// format version and CRC of every record, each hash recomputed, each prev_hash equal to
// the previous event's hash, each event applicable to the fold before it) and every
// per-account snapshot (readable, and equal to the fold of the events up to its seq).
// Read-only; works on a read-only open next to a running server.

#include <cstdint>
#include <optional>
#include <string>

#include "domain/base/result.hpp"
#include "store/db.hpp"
#include "store/event_reader.hpp"

namespace referrald::snapshots {

struct verify_problem {
  std::string account_id;
  std::uint64_t seq = 0;  // the event (or snapshot) where it went wrong
  bool in_snapshot = false;
  std::string what;
};

struct verify_summary {
  std::size_t accounts = 0;
  std::uint64_t events = 0;
  std::size_t snapshots = 0;
  std::optional<verify_problem> problem;  // the first one found; none when clean
};

// Walks the store in account order and stops at the first problem. An error only when
// the store cannot be read at all.
domain::result<verify_summary> verify_store(const store::db& db);

// The event checks alone (no snapshots) over every account of `log`: a cluster's stream,
// whose snapshots stay on each node. An error when the history cannot be read.
domain::result<verify_summary> verify_history(const store::event_reader& log);

// The same checks for one account: its first problem, or nullopt when it is clean.
domain::result<std::optional<verify_problem>> verify_account(const store::db& db,
                                                             const std::string& account_id);

}  // namespace referrald::snapshots
