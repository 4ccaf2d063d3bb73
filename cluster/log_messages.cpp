#include "cluster/log_messages.hpp"

#include "domain/base/codec.hpp"
#include "store/records.hpp"

namespace referrald::cluster {

using store::column;
using store::k_newer_release;

namespace {

constexpr std::uint8_t k_write_version = 1;
constexpr std::uint8_t k_records_version = 1;

}  // namespace

std::string position_id(const cluster_write& w, std::uint64_t expected) {
  return w.account_id + "/" + std::to_string(w.first_seq) + "/" + std::to_string(expected);
}

std::string_view payload_of(natsMsg* m) {
  return {natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m))};
}

std::uint64_t stream_seq_of(natsMsg* m) {
  std::uint64_t seq = natsMsg_GetSequence(m);
  if (seq == 0) {
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
      seq = meta->Sequence.Stream;
      jsMsgMetaData_Destroy(meta);
    }
  }
  return seq;
}

domain::result<cluster_write> from_message(natsMsg* m) {
  auto w = decode_cluster_write(payload_of(m));
  if (!w) return w;
  w->stream_seq = stream_seq_of(m);
  // The subject is what the stream fences and the account's history is read by: a write
  // filed under another account's subject is not part of either history.
  std::string_view subject = natsMsg_GetSubject(m);
  if (!subject.starts_with(k_events_prefix) ||
      subject.substr(k_events_prefix.size()) != w->account_id) {
    return domain::make_error(domain::errc::store_corrupted,
                              "the write at stream sequence " + std::to_string(w->stream_seq) +
                                  " names account " + w->account_id + " but is filed under " +
                                  std::string(subject));
  }
  return w;
}

domain::result<cluster_records> records_from_message(natsMsg* m) {
  std::string_view subject = natsMsg_GetSubject(m);
  if (!subject.starts_with(k_records_prefix)) {
    return domain::make_error(domain::errc::store_corrupted,
                              "a message of the cluster's stream has the subject " +
                                  std::string(subject) + ", unknown to this release (" +
                                  std::string(k_newer_release) + "?)");
  }
  auto r = decode_cluster_records(subject.substr(k_records_prefix.size()), payload_of(m));
  if (!r) return r;
  r->stream_seq = stream_seq_of(m);
  return r;
}

domain::result<cluster_message> message_from(natsMsg* m) {
  cluster_message out;
  std::string_view subject = natsMsg_GetSubject(m);
  if (subject.starts_with(k_events_prefix)) {
    auto w = from_message(m);
    if (!w) return std::move(w).err();
    out.body = std::move(*w);
  } else {
    auto r = records_from_message(m);
    if (!r) return std::move(r).err();
    out.body = std::move(*r);
  }
  jsMsgMetaData* meta = nullptr;
  if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
    out.published_ms = meta->Timestamp / 1000000;
    out.pending = meta->NumPending;
    jsMsgMetaData_Destroy(meta);
  } else {
    out.published_ms = natsMsg_GetTime(m) / 1000000;  // one read by sequence
  }
  return out;
}

domain::result<std::string> writer_of(natsMsg* m) {
  std::string_view subject = natsMsg_GetSubject(m);
  if (subject.starts_with(k_events_prefix)) {
    auto w = from_message(m);
    if (!w) return std::move(w).err();
    return std::move(w->writer);
  }
  auto r = records_from_message(m);
  if (!r) return std::move(r).err();
  return std::move(r->writer);
}

std::string cluster_subject(std::string_view account_id) {
  return std::string(k_events_prefix) + std::string(account_id);
}

std::string encode_cluster_write(const cluster_write& w) {
  std::string out;
  std::size_t bytes = 16 + w.account_id.size();
  for (const auto& v : w.values)
    bytes += v.size() + 5;
  out.reserve(bytes);
  out.push_back(static_cast<char>(k_write_version));
  codec::put_lpstr(out, w.account_id);
  codec::put_varint(out, w.first_seq);
  codec::put_varint(out, w.values.size());
  for (const auto& v : w.values)
    codec::put_lpstr(out, v);
  codec::put_lpstr(out, w.writer);
  return out;
}

domain::result<cluster_write> decode_cluster_write(std::string_view payload) {
  auto bad = [](const char* why) {
    return domain::make_error(domain::errc::store_corrupted,
                              std::string("a write in the cluster's event stream ") + why);
  };
  codec::reader r(payload);
  std::uint8_t version = 0;
  if (!r.u8(version)) return bad("is truncated");
  if (version > k_write_version) {
    return domain::make_error(domain::errc::store_corrupted,
                              "a write in the cluster's event stream has version " +
                                  std::to_string(version) + ", " + std::string(k_newer_release));
  }
  if (version != k_write_version) return bad("has an unknown version");
  cluster_write w;
  std::uint64_t count = 0;
  if (!r.lpstr(w.account_id) || !r.varint(w.first_seq) || !r.varint(count) || w.first_seq == 0 ||
      count == 0 || count > r.remaining()) {
    return bad("is truncated");
  }
  w.values.resize(count);
  for (auto& v : w.values)
    if (!r.lpstr(v)) return bad("is truncated");
  if (!r.lpstr(w.writer)) return bad("is truncated");
  if (r.remaining() != 0) return bad("has bytes after its events");
  return w;
}

std::string encode_cluster_records(const cluster_records& r) {
  std::string out;
  std::size_t bytes = 16 + r.writer.size();
  for (const auto& rec : r.records)
    bytes += rec.key.size() + rec.value.size() + 24;
  out.reserve(bytes);
  out.push_back(static_cast<char>(k_records_version));
  codec::put_varint(out, r.records.size());
  for (const auto& rec : r.records) {
    codec::put_lpstr(out, column_name(rec.cf));
    codec::put_lpstr(out, rec.key);
    codec::put_lpstr(out, rec.value);
  }
  codec::put_lpstr(out, r.writer);
  return out;
}

domain::result<cluster_records> decode_cluster_records(std::string_view scope,
                                                       std::string_view payload) {
  auto bad = [&](const std::string& why) {
    return domain::make_error(domain::errc::store_corrupted,
                              "records " + std::string(scope) + " in the cluster's stream " + why);
  };
  codec::reader r(payload);
  std::uint8_t version = 0;
  if (!r.u8(version)) return bad("are truncated");
  if (version > k_records_version) {
    return bad("have version " + std::to_string(version) + ", " + std::string(k_newer_release));
  }
  if (version != k_records_version) return bad("have an unknown version");
  cluster_records out;
  out.scope = scope;
  std::uint64_t count = 0;
  if (!r.varint(count) || count > r.remaining()) return bad("are truncated");
  out.records.resize(count);
  for (auto& rec : out.records) {
    std::string name;
    if (!r.lpstr(name) || !r.lpstr(rec.key) || !r.lpstr(rec.value)) return bad("are truncated");
    auto known = store::column_named(name);
    if (!known) {
      return bad("name the column " + name + ", unknown to this release (" +
                 std::string(k_newer_release) + "?)");
    }
    rec.cf = *known;
    // Read as their columns' readers read them before any node's copy holds them.
    if (auto st = store::check_record(rec.cf, rec.key, rec.value); !st) {
      return bad("hold a record of " + name + " that cannot be read: " + st.err().message);
    }
  }
  if (!r.lpstr(out.writer)) return bad("are truncated");
  if (r.remaining() != 0) return bad("have bytes after their writer");
  return out;
}

}  // namespace referrald::cluster
