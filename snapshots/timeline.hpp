#pragma once

// An account's rule states over time, for resolving many visits each as the rules stood
// at its own time (referralctl attribute --time-field): the account's events are folded
// once, oldest first, and the state after each event is kept with its lookup indexes
// ready. Account states are persistent values (domain/rules/account_state.hpp), so a kept
// version costs what its event changed: the maps share structure, and an index is the
// last full build with the changes since layered over it (a full build when the changes
// outgrow it, as on the server).
//
// Cost: loading is O(E log n) for E events over n rules, plus a full index build each
// max(64, 4·√n) mapping changes; finding the state of a time is a binary search, O(log E),
// whether the visits come sorted or not; memory is O(E log n) plus the full builds kept.

#include <cstdint>
#include <string>
#include <vector>

#include "domain/base/clock.hpp"
#include "domain/base/result.hpp"
#include "domain/rules/account_state.hpp"
#include "store/event_reader.hpp"

namespace referrald::snapshots {

class rule_timeline {
 public:
  // Every version of the account's rules, from its events in `log`; an error when an
  // event cannot be read or does not fold.
  static domain::result<rule_timeline> load(const store::event_reader& log,
                                            const std::string& account_id);

  // One state for every time (attribution against one moment, or the rules now).
  static rule_timeline single(domain::account_state state);

  // The rules as they stood at `t`: the events folded up to the first one stamped after
  // `t`, as GET and POST requests with `as_of` fold them (snapshots::stop_at).
  const domain::account_state& at(domain::unix_ms t) const;

  // The state after the last event.
  const domain::account_state& last() const { return versions_.back(); }

  // Events folded (the versions kept, less the empty one).
  std::size_t events() const { return versions_.size() - 1; }

 private:
  // versions_[k]: the state after the first k events (versions_[0] before any);
  // reached_[k]: the latest timestamp among the first k+1 events (non-decreasing), so
  // that the events admitted at `t` are the first upper_bound(reached_, t).
  std::vector<domain::account_state> versions_;
  std::vector<domain::unix_ms> reached_;
};

}  // namespace referrald::snapshots
