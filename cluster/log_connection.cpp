#include "cluster/log_connection.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <array>
#include <optional>
#include <vector>

#include "cluster/cluster_native.hpp"
#include "domain/base/text.hpp"

namespace referrald::cluster {

namespace {

struct released_messages {
  static constexpr std::size_t k_group = 64;
  // Larger messages (an import's, up to the stream's 8 MiB) are not kept.
  static constexpr int k_kept_bytes = 64 * 1024;
  std::array<natsMsg*, k_group> kept{};
  std::size_t count = 0;

  void flush() {
    for (std::size_t i = 0; i < count; ++i)
      natsMsg_Destroy(kept[i]);
    count = 0;
  }
  ~released_messages() { flush(); }
};

}  // namespace

domain::error nats_error(std::string_view what, natsStatus s, jsErrCode code) {
  std::string message = std::string(what) + ": " + natsStatus_GetText(s);
  if (code != 0) message += " (JetStream error " + std::to_string(static_cast<int>(code)) + ")";
  // Without a quorum or a server, a request times out or finds no responder, and a
  // connection whose server went away fails what it was sending: the cluster cannot take it
  // now, and a retry later may succeed (a write sent as the connection broke may still have
  // been stored, once: a 503 does not say it was not, docs/cluster.md).
  bool later = s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS || s == NATS_CONNECTION_CLOSED ||
               s == NATS_NO_SERVER || s == NATS_IO_ERROR || s == NATS_CONNECTION_DISCONNECTED ||
               s == NATS_STALE_CONNECTION || s == NATS_NOT_YET_CONNECTED ||
               code == JSClusterNotAvailErr || code == JSClusterNoPeersErr ||
               code == JSInsufficientResourcesErr ||
               static_cast<int>(code) == k_duplicate_in_process;
  return domain::make_error(later ? domain::errc::unavailable : domain::errc::internal,
                            "the cluster's event stream: " + message);
}

void release(natsMsg* m) {
  if (m == nullptr) return;
  if (natsMsg_GetDataLength(m) > released_messages::k_kept_bytes) {
    natsMsg_Destroy(m);
    return;
  }
  thread_local released_messages group;
  group.kept[group.count++] = m;
  if (group.count == released_messages::k_group) group.flush();
}

void log_connection::close() {
  jsCtx_Destroy(js);
  js = nullptr;
  natsConnection_Destroy(nc);
  nc = nullptr;
  natsOptions_Destroy(opts);
  opts = nullptr;
}

domain::status log_connection::connect(natsConnectionHandler reconnected, void* closure) {
  const cluster_options& o = options;
  std::vector<const char*> urls;
  for (const auto& s : o.servers)
    urls.push_back(s.c_str());
  // The client library, once per process: its locks spin at most a few times before
  // sleeping (its default spins 2000 times, which on a machine of few cores takes the CPU
  // from the threads that would release them).
  static const natsStatus opened = nats_Open(1);
  if (opened != NATS_OK) return nats_error("starting the NATS client", opened);
  natsStatus s = natsOptions_Create(&opts);
  if (s == NATS_OK) {
    s = natsOptions_SetServers(opts, urls.data(), static_cast<int>(urls.size()));
  }
  if (s == NATS_OK && !o.node_name.empty()) s = natsOptions_SetName(opts, o.node_name.c_str());
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);  // never give up
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 250);
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts, o.timeout.count());
  if (s == NATS_OK) s = natsOptions_SetPingInterval(opts, o.ping_interval.count());
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(opts, o.max_pings_out);
  // A publish is written to the socket by the thread that makes it, instead of waking the
  // client's flusher thread for each one: a write is one message, and a hand-off per write
  // costs more than the system call on a machine of few cores.
  if (s == NATS_OK) s = natsOptions_SetSendAsap(opts, true);
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts, reconnected, closure);
  // With a callback, connecting returns at once while no server answers (without one it
  // would block until one does); the stream set-up of open() bounds the wait by the timeout.
  if (s == NATS_OK) {
    s = natsOptions_SetRetryOnFailedConnect(
        opts, true, [](natsConnection*, void*) {}, nullptr);
  }
  if (s != NATS_OK) return nats_error("configuring the connection", s);
  s = natsConnection_Connect(&nc, opts);
  if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) return nats_error("connecting", s);
  jsOptions jo = js_options();
  s = natsConnection_JetStream(&js, nc, &jo);
  if (s != NATS_OK) return nats_error("opening JetStream", s);
  return {};
}

jsOptions log_connection::js_options(std::chrono::milliseconds wait) const {
  jsOptions o;
  jsOptions_Init(&o);
  o.Wait = wait.count();
  return o;
}

jsSubOptions log_connection::read_in_order(std::uint64_t from,
                                           std::chrono::milliseconds heartbeat) const {
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = options.stream.c_str();
  so.Config.DeliverPolicy = from <= 1 ? js_DeliverAll : js_DeliverByStartSequence;
  so.Config.OptStartSeq = from <= 1 ? 0 : from;
  so.Config.AckPolicy = js_AckNone;
  so.Config.MaxDeliver = 1;
  so.Config.FlowControl = true;
  so.Config.Heartbeat = std::chrono::duration_cast<std::chrono::nanoseconds>(heartbeat).count();
  so.Config.MemoryStorage = true;
  so.Config.Replicas = 1;
  return so;
}

domain::result<natsMsg*> log_connection::last_message(const std::string& subject,
                                                      const std::string& stream) {
  natsMsg* m = nullptr;
  jsOptions o = js_options();
  jsErrCode code = jsErrCode(0);
  const std::string& name = stream.empty() ? options.stream : stream;
  natsStatus s = js_GetLastMsg(&m, js, name.c_str(), subject.c_str(), &o, &code);
  if (s == NATS_NOT_FOUND || code == JSNoMessageFoundErr) return static_cast<natsMsg*>(nullptr);
  if (s != NATS_OK) return nats_error("reading the last message of " + subject, s, code);
  return m;
}

domain::result<log_connection::sequenced> log_connection::next_message(const std::string& subject,
                                                                       std::uint64_t from,
                                                                       const std::string& stream) {
  const std::string& name = stream.empty() ? options.stream : stream;
  rapidjson::StringBuffer body;
  rapidjson::Writer<rapidjson::StringBuffer> w(body);
  w.StartObject();
  w.Key("seq");
  w.Uint64(from);
  w.Key("next_by_subj");
  w.String(subject.data(), static_cast<rapidjson::SizeType>(subject.size()));
  w.EndObject();
  std::string api = "$JS.API.STREAM.MSG.GET." + name;
  natsMsg* reply = nullptr;
  natsStatus s = natsConnection_Request(&reply, nc, api.c_str(), body.GetString(),
                                        static_cast<int>(body.GetSize()),
                                        static_cast<std::int64_t>(options.timeout.count()));
  if (s != NATS_OK) return nats_error("reading the next message of " + subject, s);
  rapidjson::Document d;
  d.Parse(natsMsg_GetData(reply), static_cast<std::size_t>(natsMsg_GetDataLength(reply)));
  natsMsg_Destroy(reply);
  auto unreadable = [&] {
    return domain::make_error(domain::errc::unavailable,
                              "the cluster's event stream: an unreadable answer to reading the "
                              "next message of " +
                                  subject);
  };
  if (d.HasParseError() || !d.IsObject()) return unreadable();
  if (auto e = d.FindMember("error"); e != d.MemberEnd()) {
    if (!e->value.IsObject()) return unreadable();
    auto found = e->value.FindMember("err_code");
    jsErrCode code = found != e->value.MemberEnd() && found->value.IsInt()
                         ? static_cast<jsErrCode>(found->value.GetInt())
                         : jsErrCode(0);
    if (code == JSNoMessageFoundErr) return sequenced{};
    return nats_error("reading the next message of " + subject, NATS_ERR, code);
  }
  auto m = d.FindMember("message");
  if (m == d.MemberEnd() || !m->value.IsObject()) return unreadable();
  auto subj = m->value.FindMember("subject");
  auto seq = m->value.FindMember("seq");
  auto data = m->value.FindMember("data");
  if (subj == m->value.MemberEnd() || !subj->value.IsString() || seq == m->value.MemberEnd() ||
      !seq->value.IsUint64()) {
    return unreadable();
  }
  std::optional<std::string> bytes = std::string();
  if (data != m->value.MemberEnd()) {
    if (!data->value.IsString()) return unreadable();
    bytes = domain::from_base64({data->value.GetString(), data->value.GetStringLength()});
    if (!bytes) return unreadable();
  }
  sequenced out;
  out.seq = seq->value.GetUint64();
  s = natsMsg_Create(&out.msg, subj->value.GetString(), nullptr, bytes->data(),
                     static_cast<int>(bytes->size()));
  if (s != NATS_OK) return nats_error("reading the next message of " + subject, s);
  return out;
}

}  // namespace referrald::cluster
