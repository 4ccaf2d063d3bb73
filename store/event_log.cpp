// Event log layout (column family "events"):
//
//   key        := account_id 0x00 seq:fixed64-big-endian
//                 (account ids never contain 0x00, so one account's events are one
//                 contiguous, seq-ordered key range)
//   value      := version:u8 type:u8 timestamp_ms:fixed64 key_id:fixed64 entity_id:fixed64
//                 object:lpstr changed prev_hash:32*u8 hash:32*u8 crc:fixed32
//   version    := 0x02 (written) | 0x01 (read: events of release 0.2 and before)
//   type       := 0x01 passthrough_referrer.created | 0x02 .updated | 0x03 .deleted
//               | 0x04 referrer_mapping.created    | 0x05 .updated | 0x06 .deleted
//   fixed64    := 8 bytes little-endian (two's complement for signed fields)
//   fixed32    := 4 bytes little-endian
//   lpstr      := length:varint32 bytes          (UTF-8)
//   object     := the entity after the change (for a delete, as it stood):
//                 version 0x02: its tagged encoding (domain/base/schema.hpp)
//                 version 0x01: its API JSON as release 0.2 wrote it
//   changed    := for *.updated, the fields whose value changed (written in field-table
//                 order; read in any order):
//                 version 0x02: count:varint32 tag:u8*   (the fields' stored tags)
//                 version 0x01: count:varint32 lpstr*    (their API names)
//   hash       := SHA-256( prev_hash
//                        || lpstr(account_id) || seq:fixed64-big-endian
//                        || value[0 .. offset of prev_hash) )
//   prev_hash  := hash of event seq-1 of the same account; 32 zero bytes for seq 1
//   crc        := CRC-32C of value[0 .. offset of crc)
//
// The CRC detects damaged bytes; the hash chain detects removed, reordered, replaced or
// moved events (the hash covers the account and the sequence number, which live in the
// key). A stream is valid when seqs run 1..N without gaps, every CRC and hash checks
// and every prev_hash equals the previous event's hash.

#include "store/event_log.hpp"

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/metadata.h>

#include <cstring>
#include <set>
#include <vector>

#include "domain/base/codec.hpp"
#include "domain/rules/entities.hpp"
#include "store/db_internal.hpp"

namespace referrald::store {

namespace {

constexpr auto k_event_version = static_cast<std::uint8_t>(domain::object_format::tagged);
constexpr auto k_event_version_v1 = static_cast<std::uint8_t>(domain::object_format::json);
constexpr std::size_t k_digest_size = 32;

using namespace codec;

domain::sha256_digest chain_hash(std::string_view account_id, std::uint64_t seq,
                                 const domain::sha256_digest& prev, std::string_view body) {
  std::string prefix;
  prefix.append(reinterpret_cast<const char*>(prev.data()), prev.size());
  put_lpstr(prefix, account_id);
  put_fixed64_be(prefix, seq);
  return domain::sha256_hasher{}.update(prefix).update(body).finish();
}

domain::error corrupt(std::string_view account_id, std::uint64_t seq, const std::string& why) {
  return corrupt_event(account_id, seq, why);
}

// An iterator over `account_id`'s events stopped with `s` after event `last` (0: before
// the first). Damaged bytes on disk (a block checksum that does not match, a file cut short)
// are corruption at the first event that could not be read, not a passing storage error:
// retrying cannot help.
domain::error read_failure(const rocksdb::Status& s, std::string_view account_id,
                           std::uint64_t last, const std::string& what) {
  if (s.IsCorruption()) {
    auto e = corrupt(account_id, last + 1, "it cannot be read back (damaged on disk)");
    e.cause = s.ToString();
    return e;
  }
  return to_error(s, what + " " + std::string(account_id));
}

// A point read of event `seq` that failed: damage names the event.
domain::error named_failure(domain::error e, std::string_view account_id, std::uint64_t seq) {
  if (e.code != domain::errc::store_corrupted) return e;
  auto named = corrupt(account_id, seq, "it cannot be read back (damaged on disk)");
  named.cause = std::move(e.cause);
  return named;
}

}  // namespace

domain::error corrupt_event(std::string_view account_id, std::uint64_t seq,
                            const std::string& why) {
  return domain::make_error(domain::errc::store_corrupted,
                            "the stored history of account " + std::string(account_id) +
                                " is corrupt at event " + std::to_string(seq) + ": " + why);
}

std::string encode_event_key(std::string_view account_id, std::uint64_t seq) {
  return account_seq_key(account_id, seq);
}

std::string encode_event_value(std::string_view account_id, domain::event& e) {
  std::string v;
  v.reserve(64 + e.object.size());
  v.push_back(static_cast<char>(e.format));
  v.push_back(static_cast<char>(e.type));
  put_fixed64(v, static_cast<std::uint64_t>(e.timestamp));
  put_fixed64(v, static_cast<std::uint64_t>(e.key_id));
  put_fixed64(v, static_cast<std::uint64_t>(e.entity_id));
  put_lpstr(v, e.object);
  put_varint(v, e.changed.size());
  for (const auto& f : e.changed) {
    if (e.format == domain::object_format::json) {
      put_lpstr(v, f);
    } else {
      v.push_back(static_cast<char>(domain::field_tag(e.type, f)));
    }
  }
  e.hash = chain_hash(account_id, e.seq, e.prev_hash, v);
  v.append(reinterpret_cast<const char*>(e.prev_hash.data()), k_digest_size);
  v.append(reinterpret_cast<const char*>(e.hash.data()), k_digest_size);
  put_fixed32(v, domain::crc32c(v));
  return v;
}

domain::result<domain::event> decode_event(std::string_view account_id, std::uint64_t seq,
                                           std::string_view value) {
  if (value.size() < 4 + 2 * k_digest_size + 2) return corrupt(account_id, seq, "truncated");
  std::string_view body;
  std::uint32_t stored_crc = 0;
  (void)split_crc32(value, body, stored_crc);
  if (domain::crc32c(body) != stored_crc) return corrupt(account_id, seq, "checksum mismatch");

  reader r(body);
  domain::event e;
  e.seq = seq;
  std::uint8_t version = 0, type = 0;
  std::uint64_t ts = 0, key = 0, entity = 0;
  std::uint32_t count = 0;
  if (!r.u8(version)) return corrupt(account_id, seq, "truncated");
  if (version > k_event_version) {
    return corrupt(
        account_id, seq,
        "format version " + std::to_string(version) + ", " + std::string(k_newer_release));
  }
  if (version != k_event_version && version != k_event_version_v1) {
    return corrupt(account_id, seq, "unknown format version " + std::to_string(version));
  }
  e.format = static_cast<domain::object_format>(version);
  if (!r.u8(type) || !r.fixed64(ts) || !r.fixed64(key) || !r.fixed64(entity) ||
      !r.lpstr(e.object) || !r.varint32(count)) {
    return corrupt(account_id, seq, "truncated");
  }
  auto t = domain::event_type_from_byte(type);
  if (!t) {
    return corrupt(account_id, seq,
                   "event type " + std::to_string(type) + " unknown to this release (" +
                       std::string(k_newer_release) + "?)");
  }
  e.type = *t;
  e.timestamp = static_cast<std::int64_t>(ts);
  e.key_id = static_cast<std::int64_t>(key);
  e.entity_id = static_cast<std::int64_t>(entity);
  for (std::uint32_t i = 0; i < count; ++i) {
    if (e.format == domain::object_format::json) {
      std::string f;
      if (!r.lpstr(f)) return corrupt(account_id, seq, "truncated field list");
      e.changed.push_back(std::move(f));
      continue;
    }
    std::uint8_t tag = 0;
    if (!r.u8(tag)) return corrupt(account_id, seq, "truncated field list");
    auto name = domain::field_name(e.type, tag);
    if (name.empty()) {
      return corrupt(account_id, seq,
                     "field tag " + std::to_string(tag) + " unknown to this release (" +
                         std::string(k_newer_release) + "?)");
    }
    e.changed.emplace_back(name);
  }
  if (!r.bytes(k_digest_size, e.prev_hash.data()) || !r.bytes(k_digest_size, e.hash.data()) ||
      r.remaining() != 0) {
    return corrupt(account_id, seq, "bad length");
  }
  return e;
}

bool verify_event_hash(std::string_view account_id, std::uint64_t seq, std::string_view value) {
  if (value.size() < 4 + 2 * k_digest_size) return false;
  std::size_t hash_at = value.size() - 4 - k_digest_size;
  std::size_t prev_at = hash_at - k_digest_size;
  domain::sha256_digest prev, stored;
  std::memcpy(prev.data(), value.data() + prev_at, k_digest_size);
  std::memcpy(stored.data(), value.data() + hash_at, k_digest_size);
  return chain_hash(account_id, seq, prev, value.substr(0, prev_at)) == stored;
}

void event_log::append(write_batch& batch, std::string_view account_id, domain::event& e) const {
  std::string value = encode_event_value(account_id, e);
  batch.put(column::events, encode_event_key(account_id, e.seq), std::move(value));
}

domain::result<std::optional<domain::event>> event_log::get(std::string_view account_id,
                                                            std::uint64_t seq) const {
  auto value = db_->get(column::events, encode_event_key(account_id, seq));
  if (!value) return named_failure(std::move(value).err(), account_id, seq);
  if (!value->has_value()) return std::optional<domain::event>{};
  auto e = decode_event(account_id, seq, **value);
  if (!e) return std::move(e).err();
  return std::optional<domain::event>{std::move(*e)};
}

domain::result<std::uint64_t> event_log::head(std::string_view account_id) const {
  auto pinned = db_->pin();
  if (!pinned.open()) return closed_store();
  const auto& in = *pinned;
  if (in.cf(column::events) == nullptr) return std::uint64_t{0};
  std::unique_ptr<rocksdb::Iterator> it(
      in.rdb->NewIterator(rocksdb::ReadOptions(), in.cf(column::events)));
  std::string last = account_prefix(account_id);
  last.append(8, '\xff');
  it->SeekForPrev(last);
  if (!it->status().ok())
    return to_error(it->status(), "reading the head of " + std::string(account_id));
  if (!it->Valid()) return std::uint64_t{0};
  rocksdb::Slice k = it->key();
  std::string prefix = account_prefix(account_id);
  if (k.size() != prefix.size() + 8 || !k.starts_with(prefix)) return std::uint64_t{0};
  return get_fixed64_be(k.data() + prefix.size());
}

domain::status event_log::scan_raw(
    std::string_view account_id,
    const std::function<bool(std::uint64_t, std::string_view)>& fn) const {
  auto pinned = db_->pin();
  if (!pinned.open()) return closed_store();
  const auto& in = *pinned;
  if (in.cf(column::events) == nullptr) return {};
  std::string start = account_prefix(account_id);
  std::string limit = account_limit(account_id);
  rocksdb::Slice upper(limit);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(in.rdb->NewIterator(ro, in.cf(column::events)));
  std::uint64_t last = 0;
  for (it->Seek(start); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key();
    if (k.size() != start.size() + 8) {
      return corrupt(account_id, 0, "malformed key of " + std::to_string(k.size()) + " bytes");
    }
    std::uint64_t seq = get_fixed64_be(k.data() + start.size());
    last = seq;
    if (!fn(seq, std::string_view(it->value().data(), it->value().size()))) return {};
  }
  if (!it->status().ok()) return read_failure(it->status(), account_id, last, "scanning");
  return {};
}

domain::status event_log::check_event(std::string_view account_id, std::uint64_t seq) const {
  auto value = db_->get(column::events, encode_event_key(account_id, seq));
  if (!value) return named_failure(std::move(value).err(), account_id, seq);
  if (!value->has_value()) return corrupt(account_id, seq, "missing");
  auto e = decode_event(account_id, seq, **value);
  if (!e) return std::move(e).err();
  if (!verify_event_hash(account_id, seq, **value)) {
    return corrupt(account_id, seq, "its hash does not match its contents");
  }
  return {};
}

domain::status event_log::replay(std::string_view account_id, std::uint64_t from_seq,
                                 const std::function<bool(const domain::event&)>& fn,
                                 bool verify_hashes) const {
  auto pinned = db_->pin();
  if (!pinned.open()) return closed_store();
  const auto& in = *pinned;
  if (in.cf(column::events) == nullptr) return {};
  std::string limit = account_limit(account_id);
  rocksdb::Slice upper(limit);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(in.rdb->NewIterator(ro, in.cf(column::events)));
  std::size_t prefix_size = account_id.size() + 1;
  std::uint64_t last = from_seq == 0 ? 0 : from_seq - 1;
  for (it->Seek(encode_event_key(account_id, from_seq)); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key();
    if (k.size() != prefix_size + 8) return corrupt(account_id, 0, "malformed key");
    std::uint64_t seq = get_fixed64_be(k.data() + prefix_size);
    last = seq;
    std::string_view value(it->value().data(), it->value().size());
    auto e = decode_event(account_id, seq, value);
    if (!e) return std::move(e).err();
    if (verify_hashes && !verify_event_hash(account_id, seq, value)) {
      return corrupt(account_id, seq, "its hash does not match its contents");
    }
    if (!fn(*e)) return {};
  }
  if (!it->status().ok()) return read_failure(it->status(), account_id, last, "replaying");
  return {};
}

domain::result<domain::account_state> event_log::load(std::string_view account_id) const {
  domain::account_state state{std::string(account_id)};
  domain::status failure;
  auto st = replay(account_id, 1, [&](const domain::event& e) {
    failure = state.apply(e);
    return failure.ok();
  });
  if (!st) return std::move(st).err();
  if (!failure) return std::move(failure).err();
  return state;
}

domain::status event_log::for_each_account(
    const std::function<bool(const std::string&)>& fn) const {
  auto pinned = db_->pin();
  if (!pinned.open()) return closed_store();
  const auto& in = *pinned;
  if (in.cf(column::events) == nullptr) return {};
  std::unique_ptr<rocksdb::Iterator> it(
      in.rdb->NewIterator(rocksdb::ReadOptions(), in.cf(column::events)));
  std::string last;  // the last account listed
  it->SeekToFirst();
  while (it->Valid()) {
    rocksdb::Slice k = it->key();
    const void* zero = std::memchr(k.data(), '\0', k.size());
    if (zero == nullptr) return corrupt("?", 0, "key without account separator");
    last.assign(k.data(), static_cast<const char*>(zero) - k.data());
    if (!fn(last)) return {};
    it->Seek(account_limit(last));
  }
  if (it->status().ok()) return {};
  if (!it->status().IsCorruption()) return to_error(it->status(), "listing accounts");
  // Damaged bytes stop the listing. The store's file metadata (kept apart from the data)
  // still names the first and last key of every table file: the accounts found there after
  // the last one listed are listed too, so that each is checked on its own and its damage
  // is named to the event. The listing stays incomplete, and says so.
  std::vector<rocksdb::LiveFileMetaData> files;
  in.rdb->GetLiveFilesMetaData(&files);
  std::set<std::string> more;
  for (const auto& f : files) {
    if (f.column_family_name != column_name(column::events)) continue;
    for (const std::string* key : {&f.smallestkey, &f.largestkey}) {
      auto zero = key->find('\0');
      if (zero == std::string::npos) continue;
      std::string account = key->substr(0, zero);
      if (last.empty() || account > last) more.insert(std::move(account));
    }
  }
  for (const auto& account : more) {
    if (!fn(account)) return {};
  }
  auto e = domain::make_error(domain::errc::store_corrupted,
                              "the list of accounts cannot be read past " +
                                  (last.empty() ? std::string("its start") : "account " + last) +
                                  " (damaged on disk); the accounts named by the store's file "
                                  "metadata were listed instead");
  e.cause = it->status().ToString();
  return e;
}

}  // namespace referrald::store
