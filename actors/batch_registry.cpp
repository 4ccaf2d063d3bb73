#include "actors/batch_registry.hpp"

#include "domain/base/text.hpp"

namespace referrald::actors {

bool batch_registry::claim_or_wait(const std::string& key, const domain::sha256_digest& digest,
                                   reply_to reply) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = inflight_.try_emplace(key);
  if (inserted) return true;
  it->second.push_back(waiter{digest, std::move(reply)});
  return false;
}

void batch_registry::finish(const std::string& key, const domain::sha256_digest& digest,
                            const api_result& outcome) {
  std::vector<waiter> waiters;
  {
    std::lock_guard lock(mu_);
    auto it = inflight_.find(key);
    if (it == inflight_.end()) return;
    waiters = std::move(it->second);
    inflight_.erase(it);
  }
  for (auto& w : waiters) {
    if (w.digest == digest) {
      w.reply->deliver(outcome);
    } else {
      // The batch id names a different body: the key part after the last separator.
      auto sep = key.rfind('\0');
      w.reply->deliver(conflict(sep == std::string::npos ? key : key.substr(sep + 1)));
    }
  }
}

domain::error batch_registry::conflict(const std::string& batch_id) {
  return domain::make_error(
      domain::errc::conflict,
      "batch_id '" + domain::excerpt(batch_id) +
          "' was already used for this connection within the last 7 days with a different body",
      {{"batch_id", "already used with a different body"}});
}

}  // namespace referrald::actors
