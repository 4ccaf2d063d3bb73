#include "actors/chain_verifier.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "infra/log.hpp"
#include "infra/metrics.hpp"
#include "infra/thread_name.hpp"
#include "snapshots/verify.hpp"
#include "store/event_log.hpp"

namespace referrald::actors {

void broken_accounts::mark(const std::string& account_id, const std::string& what) {
  std::unique_lock lock(mu_);
  bool fresh = broken_.insert_or_assign(account_id, what).second;
  infra::metrics().chain_broken_accounts.store(static_cast<std::int64_t>(broken_.size()));
  lock.unlock();
  if (fresh) {
    infra::log(infra::log_level::error,
               what +
                   "; the account refuses writes until its history is repaired "
                   "(referralctl verify)");
  }
}

void broken_accounts::clear(const std::string& account_id) {
  std::unique_lock lock(mu_);
  if (broken_.erase(account_id) == 0) return;
  infra::metrics().chain_broken_accounts.store(static_cast<std::int64_t>(broken_.size()));
  lock.unlock();
  infra::log(infra::log_level::info,
             "account " + account_id + " verifies again; it accepts writes");
}

std::optional<domain::error> broken_accounts::refusal(const std::string& account_id) const {
  std::shared_lock lock(mu_);
  if (broken_.empty()) return std::nullopt;
  auto it = broken_.find(account_id);
  if (it == broken_.end()) return std::nullopt;
  return domain::make_error(domain::errc::store_corrupted,
                            it->second +
                                "; the account refuses writes until an operator repairs its "
                                "history (referralctl verify)");
}

std::size_t broken_accounts::size() const {
  std::shared_lock lock(mu_);
  return broken_.size();
}

namespace {

// The verifier's walks give the cores to requests first: its thread runs at the lowest
// priority (nice 19; on Linux a thread's own), so that a pass over a long history on a busy
// node takes longer instead of taking CPU from writes and resolutions. On an idle machine it
// runs as fast as before.
void yield_to_requests() {
  if (::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19) != 0) {
    infra::log(
        infra::log_level::warn,
        std::string("the chain verifier runs at the server's priority: ") + std::strerror(errno));
  }
}

}  // namespace

chain_verifier::chain_verifier(const store::db& db, broken_accounts& broken,
                               std::chrono::seconds every)
    : db_(db), broken_(broken), every_(every) {
  if (every_.count() > 0) {
    thread_ = std::thread([this] {
      infra::name_thread("chain.verify");
      yield_to_requests();
      run();
    });
  }
}

chain_verifier::~chain_verifier() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void chain_verifier::run() {
  // The first pass soon after start (not at once: accounts load first), then every `every`.
  auto wait = std::min<std::chrono::seconds>(every_, std::chrono::seconds(60));
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (cv_.wait_for(lock, wait, [this] { return stopping_; })) return;
    }
    pass();
    wait = every_;
  }
}

void chain_verifier::pass() {
  std::vector<std::string> accounts;
  auto listed = store::event_log(db_).for_each_account([&](const std::string& a) {
    accounts.push_back(a);
    return true;
  });
  if (!listed) {
    infra::log(infra::log_level::warn,
               "the chain verifier could not list accounts: " + listed.err().message);
    // Damage stopped the listing: the accounts it could name are still checked.
    if (listed.err().code != domain::errc::store_corrupted) return;
  }
  for (const auto& account : accounts) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    auto problem = snapshots::verify_account(db_, account);
    if (!problem) {
      infra::log(infra::log_level::warn, "the chain verifier could not read account " + account +
                                             ": " + problem.err().message);
      continue;
    }
    infra::metrics().chain_verified.fetch_add(1, std::memory_order_relaxed);
    if (*problem && (*problem)->in_snapshot) {
      // Snapshots are derived data: loading skips a damaged one for an older one or the log.
      infra::log(infra::log_level::warn, "account " + account + ": the snapshot at event " +
                                             std::to_string((*problem)->seq) + " is damaged (" +
                                             (*problem)->what + "); loading skips it");
    } else if (*problem) {
      const auto& p = **problem;
      broken_.mark(account, "the stored history of account " + account + " is broken at event " +
                                std::to_string(p.seq) + ": " + p.what);
    } else {
      broken_.clear(account);
    }
  }
}

}  // namespace referrald::actors
