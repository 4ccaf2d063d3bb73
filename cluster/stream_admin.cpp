#include "cluster/stream_admin.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>
#include <thread>

#include <rapidjson/document.h>

#include "cluster/cluster_native.hpp"
#include "cluster/log_messages.hpp"

namespace referrald::cluster {

namespace {

constexpr std::int32_t k_max_message_bytes = 8 << 20;
constexpr std::string_view k_claims_suffix = "_IDEM";
// A claim message is kept a day and an hour: past the 24 hours an Idempotency-Key holds.
constexpr std::int64_t k_claims_max_age_ns = 25LL * 3600 * 1000 * 1000 * 1000;

// What JetStream's "no suitable peers for placement" means for an operator: a server that
// runs JetStream but is missing from the meta group is not counted (nats-server 2.10.27
// leaves one out of a newly started cluster now and then, until it restarts).
std::string placement_hint(jsErrCode code, int replicas) {
  if (code != JSClusterNoPeersErr) return "";
  return "; JetStream found no " + std::to_string(replicas) +
         " servers to place it on: each must run JetStream and be a current peer of the "
         "cluster's meta group, which the meta leader's monitoring endpoint /jsz lists under "
         "meta_cluster; a server that runs but is missing there is counted once it restarts "
         "(docs/cluster.md, NATS)";
}

}  // namespace

int stream_admin::wanted_replicas() const {
  return conn.options.replicas > 0 ? conn.options.replicas
                                   : std::min(3, servers.most_known_servers());
}

std::string stream_admin::replicas_basis() const {
  if (conn.options.replicas > 0) {
    return std::to_string(conn.options.replicas) + " asked for (--cluster-replicas)";
  }
  int known = servers.most_known_servers();
  return std::to_string(std::min(3, known)) + " for the " + std::to_string(known) + " server" +
         (known == 1 ? "" : "s") + " the cluster advertises";
}

domain::status stream_admin::raise_replicas(const jsStreamConfig& current, int wanted) {
  jsStreamConfig cfg = current;
  cfg.Replicas = wanted;
  jsOptions o = conn.js_options();
  jsErrCode code = jsErrCode(0);
  jsStreamInfo* si = nullptr;
  natsStatus s = js_UpdateStream(&si, conn.js, &cfg, &o, &code);
  if (s == NATS_OK) {
    jsStreamInfo_Destroy(si);
    return {};
  }
  auto e = nats_error("raising the stream's replicas", s, code);
  std::string why =
      "the stream " + std::string(current.Name != nullptr ? current.Name : "?") + " has " +
      std::to_string(current.Replicas) + " replica" + (current.Replicas == 1 ? "" : "s") +
      ", fewer than the " + std::to_string(wanted) + " wanted (" + replicas_basis() +
      "), and the cluster cannot hold more now: " + e.message + placement_hint(code, wanted);
  if (code == JSClusterNoPeersErr || code == JSInsufficientResourcesErr ||
      code == JSStreamReplicasNotSupportedErr) {
    return domain::make_error(domain::errc::validation_failed, why);
  }
  return domain::make_error(e.code, why);
}

jsStreamConfig stream_admin::stream_config(const std::string& name, const char* (&subjects)[1]) {
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = name.c_str();
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  cfg.Replicas = wanted_replicas();
  cfg.DenyDelete = true;
  cfg.DenyPurge = true;
  cfg.MaxMsgSize = k_max_message_bytes;
  return cfg;
}

std::string stream_admin::claims_stream() const {
  return conn.options.stream + std::string(k_claims_suffix);
}

domain::status stream_admin::ensure_claims_stream() {
  std::string name = claims_stream();
  jsOptions o = conn.js_options();
  jsErrCode code = jsErrCode(0);
  jsStreamInfo* si = nullptr;
  natsStatus s = js_GetStreamInfo(&si, conn.js, name.c_str(), &o, &code);
  if (s == NATS_OK) {
    domain::status raised;
    int wanted = wanted_replicas();
    if (si->Config != nullptr && si->Config->Replicas < wanted) {
      raised = raise_replicas(*si->Config, wanted);
    }
    jsStreamInfo_Destroy(si);
    return raised;
  }
  if (s != NATS_NOT_FOUND && code != JSStreamNotFoundErr) {
    return nats_error("reading the Idempotency-Key stream", s, code);
  }
  std::string subjects_pattern = std::string(k_claims_prefix) + ">";
  const char* subjects[] = {subjects_pattern.c_str()};
  jsStreamConfig cfg = stream_config(name, subjects);
  cfg.MaxAge = k_claims_max_age_ns;
  code = jsErrCode(0);
  s = js_AddStream(&si, conn.js, &cfg, &o, &code);
  if (s == NATS_OK) {
    jsStreamInfo_Destroy(si);
    return {};
  }
  // Made by another node at the same moment.
  if (js_GetStreamInfo(&si, conn.js, name.c_str(), &o, nullptr) == NATS_OK) {
    jsStreamInfo_Destroy(si);
    return {};
  }
  return nats_error("creating the Idempotency-Key stream", s, code);
}

domain::status stream_admin::ensure_stream(std::chrono::milliseconds wait) {
  jsOptions o = conn.js_options(wait);
  jsErrCode code = jsErrCode(0);
  jsStreamInfo* si = nullptr;
  natsStatus s = js_GetStreamInfo(&si, conn.js, conn.options.stream.c_str(), &o, &code);
  if (s == NATS_OK) {
    bool led = si->Cluster == nullptr ||
               (si->Cluster->Leader != nullptr && si->Cluster->Leader[0] != '\0');
    jsStreamInfo_Destroy(si);
    if (led) return {};
    return domain::make_error(domain::errc::unavailable,
                              "the cluster's event stream has no leader yet");
  }
  if (s != NATS_NOT_FOUND && code != JSStreamNotFoundErr) {
    return nats_error("reading the stream's configuration", s, code);
  }
  if (!conn.options.create) {
    return domain::make_error(domain::errc::not_found,
                              "the cluster has no stream " + conn.options.stream +
                                  " (no referrald node has run on it yet)");
  }
  const char* subjects[] = {"referrald.>"};
  jsStreamConfig cfg = stream_config(conn.options.stream, subjects);
  code = jsErrCode(0);
  s = js_AddStream(&si, conn.js, &cfg, &o, &code);
  if (s == NATS_OK) jsStreamInfo_Destroy(si);
  // Made here or by another node at the same moment: the next attempt checks it has a
  // leader.
  if (s == NATS_OK ||
      js_GetStreamInfo(&si, conn.js, conn.options.stream.c_str(), &o, nullptr) == NATS_OK) {
    if (s != NATS_OK) jsStreamInfo_Destroy(si);
    return domain::make_error(domain::errc::unavailable, "the stream was just created");
  }
  auto e = nats_error("creating the stream", s, code);
  if (code == JSStreamReplicasNotSupportedErr || code == JSClusterNoPeersErr ||
      code == JSInsufficientResourcesErr) {
    // A server outside any cluster never holds more than one replica; a cluster whose
    // servers are still starting may soon (retried until the start wait is over).
    e.message = "the cluster cannot hold a stream of " + std::to_string(cfg.Replicas) +
                " replicas (" + replicas_basis() + "): " + e.message +
                placement_hint(code, cfg.Replicas);
    if (code == JSStreamReplicasNotSupportedErr) e.code = domain::errc::validation_failed;
  }
  return e;
}

domain::result<std::vector<cluster_log::stepdown>> stream_admin::step_down(
    std::chrono::milliseconds wait) {
  // The leader of `stream` as the cluster reports it; nullopt when there is no such stream.
  auto leader_of = [&](const std::string& stream,
                       int* replicas) -> domain::result<std::optional<std::string>> {
    jsOptions o = conn.js_options();
    jsErrCode code = jsErrCode(0);
    jsStreamInfo* si = nullptr;
    natsStatus st = js_GetStreamInfo(&si, conn.js, stream.c_str(), &o, &code);
    if (st == NATS_NOT_FOUND || code == JSStreamNotFoundErr) return std::optional<std::string>();
    if (st != NATS_OK) return nats_error("reading the stream's state", st, code);
    std::string leader;
    if (si->Cluster != nullptr && si->Cluster->Leader != nullptr) leader = si->Cluster->Leader;
    if (replicas != nullptr && si->Config != nullptr)
      *replicas = static_cast<int>(si->Config->Replicas);
    jsStreamInfo_Destroy(si);
    return std::optional<std::string>(leader);
  };
  std::vector<cluster_log::stepdown> out;
  const std::string claims = conn.options.stream + std::string(k_claims_suffix);
  for (const std::string& stream : {conn.options.stream, claims}) {
    int replicas = 0;
    auto before = leader_of(stream, &replicas);
    if (!before) return std::move(before).err();
    if (!*before) {
      if (stream == claims) continue;  // made by the first Idempotency-Key write
      return domain::make_error(domain::errc::not_found, "the cluster has no stream " + stream);
    }
    if (replicas < 2) {
      return domain::make_error(domain::errc::unavailable,
                                "stream " + stream +
                                    " has one replica: no other server can lead it (raise its "
                                    "replicas first)");
    }
    std::string subject = "$JS.API.STREAM.LEADER.STEPDOWN." + stream;
    natsMsg* reply = nullptr;
    natsStatus st = natsConnection_Request(&reply, conn.nc, subject.c_str(), nullptr, 0,
                                           static_cast<int64_t>(conn.options.timeout.count()));
    if (st != NATS_OK) return nats_error("asking the stream's leader to step down", st);
    std::string answer(natsMsg_GetData(reply),
                       static_cast<std::size_t>(natsMsg_GetDataLength(reply)));
    release(reply);
    rapidjson::Document d;
    d.Parse(answer.data(), answer.size());
    if (d.HasParseError() || !d.IsObject() || !d.HasMember("success") || !d["success"].IsBool() ||
        !d["success"].GetBool()) {
      std::string why = answer;
      if (!d.HasParseError() && d.IsObject() && d.HasMember("error") && d["error"].IsObject() &&
          d["error"].HasMember("description") && d["error"]["description"].IsString()) {
        why = d["error"]["description"].GetString();
      }
      return domain::make_error(domain::errc::unavailable,
                                "the leader of stream " + stream + " did not step down: " + why);
    }
    cluster_log::stepdown result{stream, **before, ""};
    auto deadline = std::chrono::steady_clock::now() + wait;
    do {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      auto now = leader_of(stream, nullptr);
      if (now && *now && !(*now)->empty() && **now != **before) {
        result.after = **now;
        break;
      }
    } while (std::chrono::steady_clock::now() < deadline);
    out.push_back(std::move(result));
  }
  return out;
}

domain::result<cluster_log::stream_status> stream_admin::status() {
  jsOptions o = conn.js_options();
  jsErrCode code = jsErrCode(0);
  jsStreamInfo* si = nullptr;
  natsStatus s = js_GetStreamInfo(&si, conn.js, conn.options.stream.c_str(), &o, &code);
  if (s != NATS_OK) return nats_error("reading the stream's state", s, code);
  cluster_log::stream_status out;
  out.stream = conn.options.stream;
  out.replicas = si->Config != nullptr ? static_cast<int>(si->Config->Replicas) : 0;
  out.messages = si->State.Msgs;
  out.bytes = si->State.Bytes;
  out.last_seq = si->State.LastSeq;
  if (si->Cluster != nullptr) {
    if (si->Cluster->Leader != nullptr) out.leader = si->Cluster->Leader;
    for (int i = 0; i < si->Cluster->ReplicasLen; ++i) {
      const jsPeerInfo* p = si->Cluster->Replicas[i];
      out.followers.push_back({p->Name != nullptr ? p->Name : "", p->Current, p->Offline, p->Lag});
    }
  }
  jsStreamInfo_Destroy(si);
  return out;
}

}  // namespace referrald::cluster
