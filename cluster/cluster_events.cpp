#include "cluster/cluster_events.hpp"

namespace referrald::cluster {

domain::status cluster_events::scan_raw(
    std::string_view account_id,
    const std::function<bool(std::uint64_t, std::string_view)>& fn) const {
  // A write of another account filed under this one's subject fails the read (from_message).
  return log_->read_account(account_id, 1, [&](const cluster_write& w) {
    for (std::size_t i = 0; i < w.values.size(); ++i)
      if (!fn(w.first_seq + i, w.values[i])) return false;
    return true;
  });
}

domain::status cluster_events::for_each_account(
    const std::function<bool(const std::string&)>& fn) const {
  return log_->for_each_account(fn);
}

domain::result<std::uint64_t> cluster_events::head(std::string_view account_id) const {
  auto last = log_->last(account_id);
  if (!last) return std::move(last).err();
  if (!last->has_value()) return std::uint64_t{0};
  return (*last)->first_seq + (*last)->values.size() - 1;
}

}  // namespace referrald::cluster
