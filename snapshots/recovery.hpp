#pragma once

// Rebuilding an account's state from the store: from the newest usable snapshot plus the
// events after it, or from the events alone. The same code answers "the state now" (an
// account actor starting), "the state after event N" and "the state as it stood at time
// T" (time travel, audits).
//
// A snapshot is used only when it decodes (version, CRC, entities) and its head hash
// equals the hash of the event it claims to follow; otherwise the next older one is
// tried, then the full log. Thread-safe; reads only.

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/base/result.hpp"
#include "domain/rules/account_state.hpp"
#include "snapshots/snapshot_store.hpp"
#include "store/event_log.hpp"

namespace referrald::snapshots {

// Where the fold stops: after event `max_seq`, and before the first event newer than
// `max_time` (timestamps never decrease within an account).
struct stop_at {
  std::uint64_t max_seq = std::numeric_limits<std::uint64_t>::max();
  std::optional<domain::unix_ms> max_time;

  bool admits(std::uint64_t seq, domain::unix_ms timestamp) const {
    return seq <= max_seq && (!max_time || timestamp <= *max_time);
  }
};

struct load_report {
  std::uint64_t snapshot_seq = 0;     // the snapshot the fold started from; 0: none
  std::uint64_t events_replayed = 0;  // events folded after it
  std::vector<std::string> skipped;   // snapshots passed over, each with the reason
};

// The account's state as `stop` says. `snaps` null: from the events alone.
domain::result<domain::account_state> load_account(const store::event_reader& log,
                                                   const snapshot_store* snaps,
                                                   std::string_view account_id,
                                                   const stop_at& stop = {},
                                                   load_report* report = nullptr);

}  // namespace referrald::snapshots
