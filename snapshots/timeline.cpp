#include "snapshots/timeline.hpp"

#include <algorithm>

namespace referrald::snapshots {

domain::result<rule_timeline> rule_timeline::load(const store::event_reader& log,
                                                  const std::string& account_id) {
  rule_timeline t;
  domain::account_state state(account_id);
  state.refresh_indexes();
  t.versions_.push_back(state);
  domain::status failure;
  domain::unix_ms reached = 0;
  auto st = log.replay(account_id, 1, [&](const domain::event& e) {
    failure = state.apply(e);
    if (!failure) return false;
    state.refresh_indexes();
    reached = std::max(reached, e.timestamp);
    t.versions_.push_back(state);
    t.reached_.push_back(reached);
    return true;
  });
  if (!st) return std::move(st).err();
  if (!failure) return std::move(failure).err();
  return t;
}

rule_timeline rule_timeline::single(domain::account_state state) {
  rule_timeline t;
  state.refresh_indexes();
  t.versions_.push_back(std::move(state));
  return t;
}

const domain::account_state& rule_timeline::at(domain::unix_ms t) const {
  auto admitted = std::upper_bound(reached_.begin(), reached_.end(), t) - reached_.begin();
  return versions_[static_cast<std::size_t>(admitted)];
}

}  // namespace referrald::snapshots
