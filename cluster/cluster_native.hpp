#pragma once

// The NATS connection under a cluster_log, for the other users of the cluster's servers
// in store/ (the membership bucket, the forwarding of writes). Included by .cpp files
// only: it brings in the NATS client's header.

#include <nats/nats.h>

#include "cluster/cluster_log.hpp"

namespace referrald::cluster {

struct cluster_native {
  // Valid while `log` lives; thread-safe as the NATS client is.
  static natsConnection* connection(cluster_log& log);
  static jsCtx* jetstream(cluster_log& log);
  static const cluster_options& options(cluster_log& log);
};

// Destroys `m`, a message made or received by the NATS client, a few at a time. The
// client hands every message it destroys to its collector thread and wakes that thread
// when it sleeps: one wake-up, two context switches, per message, on each of the several
// messages a write takes. Destroyed in groups of 64 per thread (at most 63 messages of up
// to 64 KiB of data kept on a thread between groups, the rest when the thread ends; a
// larger message is destroyed at once), the collector wakes once per group.
void release(natsMsg* m);

}  // namespace referrald::cluster
