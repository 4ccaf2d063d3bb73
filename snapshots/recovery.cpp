#include "snapshots/recovery.hpp"

#include "domain/log.hpp"
#include "domain/metrics.hpp"

namespace referrald::snapshots {

namespace {

// The newest snapshot within `stop` that decodes and chains to the log, or a fresh state.
domain::result<domain::account_state> starting_state(const store::event_log& log,
                                                     const snapshot_store& snaps,
                                                     std::string_view account_id,
                                                     const stop_at& stop, load_report& report) {
  auto infos = snaps.list(account_id);
  if (!infos) return std::move(infos).err();
  for (auto it = infos->rbegin(); it != infos->rend(); ++it) {
    if (it->readable && !stop.admits(it->seq, it->last_timestamp)) continue;
    auto skip = [&](const std::string& why) {
      std::string name = "snapshot " + std::string(account_id) + "@" + std::to_string(it->seq);
      report.skipped.push_back(why.starts_with(name) ? why : name + ": " + why);
      domain::metrics().snapshot_fallbacks.fetch_add(1, std::memory_order_relaxed);
      domain::log(domain::log_level::warn, report.skipped.back() + "; trying an older one");
    };
    auto bytes = snaps.read(account_id, it->seq);
    if (!bytes) return std::move(bytes).err();
    if (!bytes->has_value()) continue;  // pruned meanwhile
    auto state = decode_snapshot(account_id, it->seq, **bytes);
    if (!state) {
      skip(state.err().message);
      continue;
    }
    if (!stop.admits(state->seq(), state->last_timestamp())) continue;
    auto event = log.get(account_id, it->seq);
    if (!event) return std::move(event).err();
    if (!event->has_value()) {
      skip("the log has no event " + std::to_string(it->seq));
      continue;
    }
    if ((*event)->hash != state->head_hash()) {
      skip("its head hash differs from the hash of event " + std::to_string(it->seq));
      continue;
    }
    report.snapshot_seq = it->seq;
    return state;
  }
  return domain::account_state{std::string(account_id)};
}

}  // namespace

domain::result<domain::account_state> load_account(const store::event_log& log,
                                                   const snapshot_store* snaps,
                                                   std::string_view account_id, const stop_at& stop,
                                                   load_report* report) {
  load_report local;
  load_report& r = report != nullptr ? *report : local;
  r = load_report{};
  domain::account_state state{std::string(account_id)};
  if (snaps != nullptr) {
    auto start = starting_state(log, *snaps, account_id, stop, r);
    if (!start) return std::move(start).err();
    state = std::move(*start);
  }
  if (state.seq() >= stop.max_seq) return state;
  domain::status failure;
  auto st = log.replay(account_id, state.seq() + 1, [&](const domain::event& e) {
    if (!stop.admits(e.seq, e.timestamp)) return false;
    failure = state.apply(e);
    if (!failure) return false;
    ++r.events_replayed;
    return true;
  });
  if (!st) return std::move(st).err();
  if (!failure) return std::move(failure).err();
  return state;
}

}  // namespace referrald::snapshots
