#include "cluster/cluster_events.hpp"

#include "store/event_log.hpp"

namespace referrald::cluster {

using store::corrupt_event;

domain::status cluster_events::scan_raw(
    std::string_view account_id,
    const std::function<bool(std::uint64_t, std::string_view)>& fn) const {
  domain::status failure;
  auto st = log_->read_account(account_id, 1, [&](const cluster_write& w) {
    if (w.account_id != account_id) {
      failure = corrupt_event(account_id, w.first_seq,
                              "the write at stream sequence " + std::to_string(w.stream_seq) +
                                  " names account " + w.account_id);
      return false;
    }
    for (std::size_t i = 0; i < w.values.size(); ++i)
      if (!fn(w.first_seq + i, w.values[i])) return false;
    return true;
  });
  if (!st) return st;
  return failure;
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
