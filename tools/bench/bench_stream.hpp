// The stream the ceilings' benchmarks write (bench_stream_alone, bench_http_puts), made and
// written with libnats alone, as the smallest client would: no referrald code.
#pragma once

#include <nats/nats.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

// The name of the server leading STREAM, empty while none does (or on an error).
inline std::string stream_leader(jsCtx* js, const std::string& stream) {
  jsStreamInfo* info = nullptr;
  jsErrCode code = jsErrCode(0);
  std::string leader;
  if (js_GetStreamInfo(&info, js, stream.c_str(), nullptr, &code) == NATS_OK && info != nullptr &&
      info->Cluster != nullptr && info->Cluster->Leader != nullptr)
    leader = info->Cluster->Leader;
  if (info != nullptr) jsStreamInfo_Destroy(info);
  return leader;
}

// Asks STREAM's leaders to step down ($JS.API.STREAM.LEADER.STEPDOWN: a follower picked by
// the servers takes over) until the server named LEADER leads it, 60 s at most, so that every
// client of a benchmark crosses the same routes from run to run. False, with a message after
// WHO, when it does not.
inline bool lead_from(const char* who, natsConnection* nc, jsCtx* js, const std::string& stream,
                      const std::string& leader) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::string now;
  for (int stepdowns = 0; std::chrono::steady_clock::now() < deadline;) {
    now = stream_leader(js, stream);
    if (now == leader) {
      std::fprintf(stderr, "%s: stream %s led by %s after %d stepdowns\n", who, stream.c_str(),
                   leader.c_str(), stepdowns);
      return true;
    }
    if (!now.empty()) {
      ++stepdowns;
      natsMsg* reply = nullptr;
      std::string subject = "$JS.API.STREAM.LEADER.STEPDOWN." + stream;
      if (natsConnection_Request(&reply, nc, subject.c_str(), nullptr, 0, 5000) == NATS_OK)
        natsMsg_Destroy(reply);
      // The old leader is the one sure not to lead next: wait until another does.
      auto elected = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (std::chrono::steady_clock::now() < elected) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        std::string next = stream_leader(js, stream);
        if (!next.empty() && next != now) break;
      }
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  std::fprintf(stderr, "%s: stream %s is led by %s, not %s, after 60 s of stepdowns\n", who,
               stream.c_str(), now.empty() ? "no server" : now.c_str(), leader.c_str());
  return false;
}

// A connection to the servers of URLS (comma-separated) with its JetStream context, and the
// stream STREAM on the subjects bench.STREAM.> made as a cluster's is: file storage, REPLICAS
// replicas, deletes and purges denied. A cluster just started elects its JetStream leader
// first: the stream is tried again for 30 s. With BENCH_STREAM_LEADER set to a server's name,
// that server is then made the stream's leader (lead_from). Errors are printed after WHO; false
// then.
inline bool open_bench_stream(const char* who, const std::string& urls, const std::string& stream,
                              int replicas, natsConnection** nc, jsCtx** js) {
  auto ok = [who](natsStatus s, const char* what) {
    if (s != NATS_OK) std::fprintf(stderr, "%s: %s: %s\n", who, what, natsStatus_GetText(s));
    return s == NATS_OK;
  };
  std::vector<std::string> list;
  for (std::size_t at = 0;;) {
    auto comma = urls.find(',', at);
    list.push_back(urls.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  std::vector<const char*> servers;
  for (const auto& u : list)
    servers.push_back(u.c_str());
  natsOptions* opts = nullptr;
  bool connected =
      ok(natsOptions_Create(&opts), "options") &&
      ok(natsOptions_SetServers(opts, servers.data(), static_cast<int>(servers.size())),
         "servers") &&
      ok(natsConnection_Connect(nc, opts), "connect") &&
      ok(natsConnection_JetStream(js, *nc, nullptr), "JetStream");
  natsOptions_Destroy(opts);
  if (!connected) return false;
  std::string filter = "bench." + stream + ".>";
  const char* subjects[] = {filter.c_str()};
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = stream.c_str();
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  cfg.Replicas = replicas;
  cfg.DenyDelete = true;
  cfg.DenyPurge = true;
  jsErrCode code = jsErrCode(0);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  natsStatus added = NATS_OK;
  while ((added = js_AddStream(nullptr, *js, &cfg, nullptr, &code)) != NATS_OK &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  if (added != NATS_OK) {
    std::fprintf(stderr, "%s: add stream: %s (JetStream error %d: %s)\n", who,
                 natsStatus_GetText(added), static_cast<int>(code), nats_GetLastError(nullptr));
    return false;
  }
  const char* leader = std::getenv("BENCH_STREAM_LEADER");
  return leader == nullptr || *leader == '\0' || lead_from(who, *nc, *js, stream, leader);
}

// The message of a write as a node makes it: PAYLOAD on SUBJECT with "Nats-Msg-Id"
// (SUBJECT/LAST) and "Nats-Expected-Last-Subject-Sequence" LAST; nullptr when it cannot be
// made.
inline natsMsg* fenced_message(const std::string& subject, std::string_view payload,
                               std::uint64_t last) {
  natsMsg* m = nullptr;
  if (natsMsg_Create(&m, subject.c_str(), nullptr, payload.data(),
                     static_cast<int>(payload.size())) != NATS_OK)
    return nullptr;
  std::string id = subject + "/" + std::to_string(last);
  std::string expected = std::to_string(last);
  if (natsMsgHeader_Set(m, "Nats-Msg-Id", id.c_str()) != NATS_OK ||
      natsMsgHeader_Set(m, "Nats-Expected-Last-Subject-Sequence", expected.c_str()) != NATS_OK) {
    natsMsg_Destroy(m);
    return nullptr;
  }
  return m;
}

// One write as a node makes it (fenced_message; LAST the sequence the subject's last write
// was stored at), waiting for the acknowledgement. True, and LAST the write's sequence, when
// it was stored; false when it was refused or not acknowledged (a fenced write that lost:
// none expected, each subject has one writer).
inline bool publish_fenced(jsCtx* js, const std::string& subject, std::string_view payload,
                           std::uint64_t& last) {
  natsMsg* m = fenced_message(subject, payload, last);
  if (m == nullptr) return false;
  jsPubAck* ack = nullptr;
  jsErrCode err = jsErrCode(0);
  natsStatus s = js_PublishMsg(&ack, js, m, nullptr, &err);
  natsMsg_Destroy(m);
  bool stored = s == NATS_OK && ack != nullptr && !ack->Duplicate;
  if (stored) last = ack->Sequence;
  if (ack != nullptr) jsPubAck_Destroy(ack);
  return stored;
}
