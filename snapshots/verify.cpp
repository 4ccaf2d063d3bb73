#include "snapshots/verify.hpp"

#include <map>
#include <set>

#include "snapshots/snapshot_store.hpp"
#include "store/event_log.hpp"

namespace referrald::snapshots {

namespace {

// Checks one account; returns the first problem, if any.
domain::result<std::optional<verify_problem>> verify_account(
    const store::event_reader& log, const snapshot_store* snaps, const std::string& account,
    const std::vector<snapshot_info>& account_snaps, verify_summary& summary) {
  std::optional<verify_problem> problem;
  auto fail = [&](std::uint64_t seq, bool in_snapshot, std::string what) {
    problem = verify_problem{account, seq, in_snapshot, std::move(what)};
  };
  std::map<std::uint64_t, const snapshot_info*> pending;  // snapshots by seq
  for (const auto& s : account_snaps)
    pending.emplace(s.seq, &s);

  domain::account_state state{account};
  domain::sha256_digest prev{};
  std::uint64_t expected = 1;
  domain::status read_failure;
  auto check_snapshot = [&](const snapshot_info& info) {
    ++summary.snapshots;
    auto bytes = snaps->read(account, info.seq);
    if (!bytes) {
      read_failure = std::move(bytes).err();
      return false;
    }
    if (!bytes->has_value()) return true;  // pruned while we read
    auto snap = decode_snapshot(account, info.seq, **bytes);
    if (!snap) {
      fail(info.seq, true, snap.err().message);
      return false;
    }
    if (!(*snap == state)) {
      fail(info.seq, true, "differs from the fold of events 1.." + std::to_string(info.seq));
      return false;
    }
    return true;
  };
  auto st = log.scan_raw(account, [&](std::uint64_t seq, std::string_view value) {
    if (seq > expected) {
      fail(expected, false, "missing (the next stored event is " + std::to_string(seq) + ")");
      return false;
    }
    if (seq < expected) {  // seen already: named, not the one that was due
      fail(seq, false, "stored twice");
      return false;
    }
    auto e = store::decode_event(account, seq, value);
    if (!e) {
      fail(seq, false, e.err().message);
      return false;
    }
    if (!store::verify_event_hash(account, seq, value)) {
      fail(seq, false,
           "its hash does not match its contents (altered, or moved from another "
           "position)");
      return false;
    }
    if (e->prev_hash != prev) {
      fail(seq, false, "does not chain to event " + std::to_string(seq - 1));
      return false;
    }
    if (auto applied = state.apply(*e); !applied) {
      fail(seq, false, applied.err().message);
      return false;
    }
    prev = e->hash;
    ++expected;
    ++summary.events;
    if (auto it = pending.find(seq); it != pending.end()) {
      const snapshot_info* info = it->second;
      pending.erase(it);
      if (!check_snapshot(*info)) return false;
    }
    return true;
  });
  if (!st) {
    // A history that cannot be read now (a cluster that does not answer) is not a bad one.
    if (!problem && st.err().code == domain::errc::unavailable) return std::move(st).err();
    // An undecodable key layout is a problem in the log, not a read failure.
    if (!problem) fail(expected, false, st.err().message);
    return problem;
  }
  if (!read_failure) return std::move(read_failure).err();
  if (!problem && !pending.empty()) {
    fail(pending.begin()->first, true,
         "snapshot is beyond the last event (" + std::to_string(expected - 1) + ")");
  }
  return problem;
}

}  // namespace

domain::result<std::optional<verify_problem>> verify_account(const store::db& db,
                                                             const std::string& account_id) {
  store::event_log log(db);
  snapshot_store snaps(db);
  auto mine = snaps.list(account_id);
  if (!mine) return std::move(mine).err();
  verify_summary summary;
  return verify_account(log, &snaps, account_id, *mine, summary);
}

domain::result<verify_summary> verify_store(const store::db& db) {
  store::event_log log(db);
  snapshot_store snaps(db);
  verify_summary summary;
  auto all_snaps = snaps.list_all();
  if (!all_snaps) return std::move(all_snaps).err();
  std::map<std::string, std::vector<snapshot_info>> by_account;
  for (auto& s : *all_snaps)
    by_account[s.account_id].push_back(std::move(s));

  std::set<std::string> accounts;
  auto st = log.for_each_account([&](const std::string& a) {
    accounts.insert(a);
    return true;
  });
  // A listing stopped by damage still gives the accounts it could name: each is checked, so
  // that the damage is named to its account and event.
  if (!st && st.err().code != domain::errc::store_corrupted) {
    summary.problem = verify_problem{"?", 0, false, st.err().message};
    return summary;
  }
  for (const auto& [a, s] : by_account)
    accounts.insert(a);
  for (const auto& account : accounts) {
    ++summary.accounts;
    auto problem = verify_account(log, &snaps, account, by_account[account], summary);
    if (!problem) return std::move(problem).err();
    if (*problem) {
      summary.problem = std::move(*problem);
      return summary;
    }
  }
  if (!st) summary.problem = verify_problem{"?", 0, false, st.err().message};
  return summary;
}

domain::result<verify_summary> verify_history(const store::event_reader& log) {
  verify_summary summary;
  std::vector<std::string> accounts;
  auto st = log.for_each_account([&](const std::string& a) {
    accounts.push_back(a);
    return true;
  });
  if (!st) return std::move(st).err();
  for (const auto& account : accounts) {
    ++summary.accounts;
    auto problem = verify_account(log, nullptr, account, {}, summary);
    if (!problem) return std::move(problem).err();
    if (*problem) {
      summary.problem = std::move(*problem);
      return summary;
    }
  }
  return summary;
}

}  // namespace referrald::snapshots
