#pragma once

// The NATS connection under a cluster_log, for the other users of the cluster's servers
// in store/ (the membership bucket, the forwarding of writes). Included by .cpp files
// only: it brings in the NATS client's header.

#include <nats/nats.h>

#include "store/cluster_log.hpp"

namespace referrald::store {

struct cluster_native {
  // Valid while `log` lives; thread-safe as the NATS client is.
  static natsConnection* connection(cluster_log& log);
  static jsCtx* jetstream(cluster_log& log);
  static const cluster_options& options(cluster_log& log);
};

}  // namespace referrald::store
