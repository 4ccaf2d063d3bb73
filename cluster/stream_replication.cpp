#include "cluster/stream_replication.hpp"

#include <string>
#include <utility>

#include "infra/log.hpp"

namespace referrald::cluster {

domain::status stream_replication::check_replication(bool* raised_now) {
  replication_checked = std::chrono::steady_clock::now();
  jsOptions o = conn.js_options(std::chrono::milliseconds(2000));
  jsErrCode code = jsErrCode(0);
  jsStreamInfo* si = nullptr;
  natsStatus s = js_GetStreamInfo(&si, conn.js, conn.options.stream.c_str(), &o, &code);
  if (s != NATS_OK) return nats_error("reading the stream's replication", s, code);
  cluster_log::replication r;
  r.known = true;
  r.wanted = admin.wanted_replicas();
  r.replicas = si->Config != nullptr ? static_cast<int>(si->Config->Replicas) : 0;
  domain::status raised;
  if (conn.options.create && si->Config != nullptr && r.replicas < r.wanted) {
    raised = admin.raise_replicas(*si->Config, r.wanted);
    auto now = std::chrono::steady_clock::now();
    if (raised) {
      if (raised_now != nullptr) *raised_now = true;
      infra::log(infra::log_level::warn,
                 "raised the replicas of the stream " + conn.options.stream + " from " +
                     std::to_string(r.replicas) + " to " + std::to_string(r.wanted));
    } else if (now - raise_logged >= std::chrono::minutes(1)) {
      raise_logged = now;
      infra::log(infra::log_level::warn, raised.err().message);
    }
  }
  if (si->Cluster != nullptr) {
    bool led = si->Cluster->Leader != nullptr && si->Cluster->Leader[0] != '\0';
    if (led) conn.led_at = std::chrono::steady_clock::now();
    r.current = led ? 1 : 0;
    if (!led) r.problems.emplace_back("the stream has no leader");
    for (int i = 0; i < si->Cluster->ReplicasLen; ++i) {
      const jsPeerInfo* p = si->Cluster->Replicas[i];
      std::string name = p->Name != nullptr ? p->Name : "?";
      if (p->Offline) {
        r.problems.push_back("replica " + name + " is offline");
      } else if (!p->Current) {
        r.problems.push_back("replica " + name + " is lagging (" + std::to_string(p->Lag) +
                             " operations behind)");
      } else {
        ++r.current;
      }
    }
  } else {
    r.current = 1;  // a server without a cluster: the one replica is the server itself
  }
  jsStreamInfo_Destroy(si);
  if (r.replicas < r.wanted) {
    r.problems.insert(r.problems.begin(),
                      "the stream is under-replicated: " + std::to_string(r.replicas) + " replica" +
                          (r.replicas == 1 ? "" : "s") + ", " + std::to_string(r.wanted) +
                          " wanted");
  }
  {
    std::lock_guard lock(replication_mu);
    replication = std::move(r);
  }
  return raised;
}

cluster_log::replication stream_replication::status() const {
  std::lock_guard lock(replication_mu);
  return replication;
}

}  // namespace referrald::cluster
