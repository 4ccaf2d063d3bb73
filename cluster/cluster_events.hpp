#pragma once

// Accounts' event histories read from a cluster's stream (cluster/cluster_log.hpp): each
// write's events, numbered from its first_seq, in stream order. Snapshots are not in the
// stream (every node keeps its own); readers fold from the events.

#include "cluster/cluster_log.hpp"
#include "store/event_reader.hpp"

namespace referrald::cluster {

class cluster_events final : public store::event_reader {
 public:
  explicit cluster_events(cluster_log& log) : log_(&log) {}

  domain::status scan_raw(
      std::string_view account_id,
      const std::function<bool(std::uint64_t, std::string_view)>& fn) const override;
  domain::status for_each_account(const std::function<bool(const std::string&)>& fn) const override;
  domain::result<std::uint64_t> head(std::string_view account_id) const override;

 private:
  cluster_log* log_;
};

}  // namespace referrald::cluster
