#pragma once

// Tamper evidence while the server runs. Loading an account checks the part of its
// history it reads (snapshots/recovery.hpp); the chain verifier walks every account's
// whole history — the same checks as `referralctl verify` — on a thread of its own, a
// minute after start (or `every`, if shorter) and then every `every`, so that damage
// before an account's newest snapshot is found too. An account found broken is recorded in
// broken_accounts: its writes are refused (500 store_corrupted, naming the account and the event),
// reads go on, and the first bad event is logged. A broken account that verifies clean again (an
// operator restored its data) is released.
//
// Metrics: referrald_chain_verified_total (accounts checked), referrald_chain_broken_accounts.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "domain/base/result.hpp"
#include "store/db.hpp"

namespace referrald::actors {

// Accounts whose stored history failed its checks. Thread-safe.
class broken_accounts {
 public:
  void mark(const std::string& account_id, const std::string& what);
  void clear(const std::string& account_id);
  // The error a write to `account_id` gets while it is broken.
  std::optional<domain::error> refusal(const std::string& account_id) const;
  std::size_t size() const;

 private:
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, std::string> broken_;  // account -> what is wrong
};

class chain_verifier {
 public:
  // `every` zero: never runs. `db` and `broken` must outlive the verifier.
  chain_verifier(const store::db& db, broken_accounts& broken, std::chrono::seconds every);
  ~chain_verifier();
  chain_verifier(const chain_verifier&) = delete;
  chain_verifier& operator=(const chain_verifier&) = delete;

 private:
  void run();
  void pass();

  const store::db& db_;
  broken_accounts& broken_;
  const std::chrono::seconds every_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace referrald::actors
