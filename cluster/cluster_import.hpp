#pragma once

// Grows a single-node deployment into a cluster: moves an embedded store's whole history
// into the cluster's stream (cluster/cluster_log.hpp), so that no audit trail is lost.
//
// - Every account's events go in as writes of its subject, in order, byte for byte: the
//   same sequence numbers and the same hash chain (at most 1,000 events or 4 MiB a
//   write). The first write expects the subject empty, each next one the previous.
// - API keys, AI-referral connections, rows and batch records go in as records
//   (cluster/cluster_log.hpp, "Records"): each key on its own subject (expected empty);
//   connections per brand; rows per brand in messages of at most 4 MiB; each batch record
//   on the subject its batch_id is claimed on (a batch_id the cluster already holds keeps
//   the cluster's record: counted as skipped).
//
// Refused before anything is written (conflict, naming them) when the stream already
// holds any of the accounts or key ids: importing twice, or into a cluster that was
// written to, cannot mix two histories. Snapshots are not moved: each node writes its own.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "cluster/cluster_log.hpp"
#include "domain/base/result.hpp"
#include "store/db.hpp"

namespace referrald::cluster {

struct cluster_import_summary {
  std::size_t accounts = 0;
  std::uint64_t events = 0;
  std::size_t keys = 0;
  std::size_t connections = 0;
  std::size_t rows = 0;
  std::size_t batches = 0;
  std::size_t batches_skipped = 0;
};

// `progress` (optional) is told each account as it is imported.
domain::result<cluster_import_summary> import_into_cluster(
    const store::db& source, cluster_log& log,
    const std::function<void(const std::string& account, std::uint64_t events)>& progress = {});

}  // namespace referrald::cluster
