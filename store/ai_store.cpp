// AI-referral layouts.
//
// Column family "connections":
//   key    := brand_id:fixed64-big-endian connection_id:26 bytes (ULID, uppercase)
//   value  := 0x02 tagged     (written: the connection's field table, domain/base/schema.hpp)
//           | 0x01 JSON       (read: release 0.2's API JSON of the connection)
//
// Column family "ai_rows" — one record per row identity; a brand's date range is one
// contiguous, ordered key range:
//   key    := brand_id:fixed64-big-endian day:fixed32-big-endian connection_id:26 bytes
//             referrer:lpstr page:bytes(rest of the key)
//   day    := days since 1970-01-01 + 2^31    (so that the order is the date order)
//   value  := 0x02 tagged     (written: the row's field table, domain/ai/ai_referrals.cpp,
//                              without the fields held in the key: date, referrer, page)
//           | 0x01 flags:u8 [pageviews:varint64] [sessions:varint64]     (read: release 0.2)
//             [transactions:varint64] [purchase_revenue:fixed64(IEEE 754 double)]
//             platform:lpstr list_version:lpstr [batch_id:lpstr] raw_referrer:lpstr
//             raw_page:lpstr received_at_ms:fixed64
//   flags  := bit 0 pageviews present | bit 1 sessions | bit 2 transactions
//             | bit 3 purchase_revenue | bit 4 batch_id      (absent metric = null)
//   lpstr  := length:varint32 bytes
//   fixed* := little-endian unless noted
//
// Column family "ai_batches" — batch_id idempotency, kept 7 days:
//   key    := brand_id:fixed64-big-endian connection_id:26 bytes batch_id:bytes
//   value  := version:u8 created_at_ms:fixed64 digest:32 bytes response:bytes
//   version:= 0x01  digest = SHA-256 of the raw request body (read, never written now)
//           | 0x02  digest = SHA-256 of the rows' canonical JSON (domain/base/json.hpp
//                   append_canonical_json), so that the same rows serialized differently
//                   are the same batch

#include "store/ai_store.hpp"

#include "domain/base/digest.hpp"

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>

#include <algorithm>
#include <cstring>

#include "domain/base/codec.hpp"
#include "domain/base/schema_ops.hpp"
#include "store/db_internal.hpp"

namespace referrald::store {

namespace {

constexpr char k_version = 1;
constexpr char k_row_version = 2;         // rows: tagged (version 1: the fixed layout, read)
constexpr char k_connection_version = 2;  // connections: tagged (version 1: JSON, read)
constexpr std::uint8_t f_pageviews = 1, f_sessions = 2, f_transactions = 4, f_revenue = 8,
                       f_batch = 16;
constexpr std::uint64_t k_day_offset = 1ull << 31;

using namespace codec;

std::string brand_prefix(std::int64_t brand_id) {
  std::string k;
  put_fixed64_be(k, static_cast<std::uint64_t>(brand_id));
  return k;
}

std::string day_key(std::int64_t brand_id, std::int64_t day) {
  std::string k = brand_prefix(brand_id);
  put_fixed32_be(k, static_cast<std::uint32_t>(static_cast<std::uint64_t>(day) + k_day_offset));
  return k;
}

domain::error corrupt(const std::string& what) {
  return domain::make_error(domain::errc::internal, "stored AI-referral data is corrupt: " + what);
}

domain::error newer(std::string_view what, unsigned char version) {
  return domain::make_error(domain::errc::store_corrupted,
                            "a stored AI-referral " + std::string(what) + " was " +
                                std::string(k_newer_release) + " (version " +
                                std::to_string(version) + ")");
}

// Release 0.2's fixed layout of the value (version byte already read).
domain::status decode_row_v1(reader& v, stored_ai_row& r) {
  std::uint8_t flags = 0;
  if (!v.u8(flags)) return corrupt("row value");
  auto metric = [&](std::uint8_t bit, std::optional<std::int64_t>& out) {
    std::uint64_t n = 0;
    out.reset();
    if ((flags & bit) == 0) return true;
    if (!v.varint(n)) return false;
    out = static_cast<std::int64_t>(n);
    return true;
  };
  if (!metric(f_pageviews, r.pageviews) || !metric(f_sessions, r.sessions) ||
      !metric(f_transactions, r.transactions)) {
    return corrupt("row value");
  }
  r.purchase_revenue.reset();
  if (flags & f_revenue) {
    std::uint64_t n = 0;
    if (!v.fixed64(n)) return corrupt("row value");
    double d;
    std::memcpy(&d, &n, sizeof d);
    r.purchase_revenue = d;
  }
  if (!v.lpstr(r.platform) || !v.lpstr(r.list_version)) return corrupt("row value");
  r.batch_id.reset();
  if (flags & f_batch) {
    std::string b;
    if (!v.lpstr(b)) return corrupt("row value");
    r.batch_id = std::move(b);
  }
  std::uint64_t received = 0;
  if (!v.lpstr(r.raw_referrer) || !v.lpstr(r.raw_page) || !v.fixed64(received)) {
    return corrupt("row value");
  }
  r.received_at = static_cast<domain::unix_ms>(received);
  return {};
}

}  // namespace

domain::status decode_row_record(std::string_view key, std::string_view value, stored_ai_row& r) {
  reader k(key);
  std::string_view part;
  if (!k.bytes(8, part) || !k.bytes(4, part)) return corrupt("short row key");
  std::uint32_t day = 0;
  for (unsigned char c : part)
    day = (day << 8) | c;
  if (!k.bytes(26, part)) return corrupt("short row key");
  r.connection_id.assign(part);
  if (!k.lpstr(r.referrer)) return corrupt("short row key");
  r.page.assign(k.rest());

  reader v(value);
  std::uint8_t version = 0;
  if (!v.u8(version)) return corrupt("row version");
  if (version == k_row_version) {
    auto st = domain::schema::decode_into(domain::ai_row_fields(), v.rest(),
                                          static_cast<domain::ai_row&>(r), "AI-referral row");
    if (!st) return st;
  } else if (version == k_version) {
    if (auto st = decode_row_v1(v, r); !st) return st;
  } else {
    return version > k_row_version ? newer("row", version) : corrupt("row version");
  }
  // The key's fields last: decode_into resets what the value leaves out.
  r.date = static_cast<std::int64_t>(day) - static_cast<std::int64_t>(k_day_offset);
  return {};
}

domain::result<domain::connection> decode_connection_record(std::string_view key,
                                                            std::string_view value) {
  if (value.empty() || (value[0] != k_connection_version && value[0] != k_version)) {
    if (!value.empty() && static_cast<unsigned char>(value[0]) > k_connection_version) {
      return newer("connection", static_cast<unsigned char>(value[0]));
    }
    return corrupt("connection version");
  }
  auto c = domain::decode_stored_connection(value.substr(1), value[0] == k_connection_version);
  if (!c) return c;
  if (key != brand_prefix(c->brand_id) + c->id) return corrupt("connection not under its id");
  return c;
}

domain::result<std::vector<domain::connection>> ai_store::load_connections() const {
  std::vector<domain::connection> out;
  auto pinned = db_->pin();
  if (!pinned.open()) return closed_store();
  const auto& in = *pinned;
  if (in.cf(column::connections) == nullptr) return out;
  std::unique_ptr<rocksdb::Iterator> it(
      in.rdb->NewIterator(rocksdb::ReadOptions(), in.cf(column::connections)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto c = decode_connection_record(std::string_view(it->key().data(), it->key().size()),
                                      std::string_view(it->value().data(), it->value().size()));
    if (!c) return std::move(c).err();
    out.push_back(std::move(*c));
  }
  if (!it->status().ok()) return to_error(it->status(), "reading connections");
  return out;
}

void ai_store::put_connection(write_batch& b, const domain::connection& c) const {
  std::string key = brand_prefix(c.brand_id) + c.id;
  std::string value(1, k_connection_version);
  value += domain::encode_stored_connection(c);
  b.put(column::connections, std::move(key), std::move(value));
}

void ai_store::put_rows(write_batch& b, std::int64_t brand_id, const std::string& connection_id,
                        const std::vector<domain::ai_row>& rows) const {
  std::size_t bytes = 0;
  for (const auto& r : rows) {
    bytes += 2 * (r.referrer.size() + r.page.size()) + r.platform.size() + r.list_version.size() +
             (r.batch_id ? r.batch_id->size() : 0) + 96;
  }
  b.reserve(rows.size(), bytes);
  const std::size_t mark = b.size();
  std::string key, value;  // reused: no allocation per row
  for (const auto& r : rows) {
    key.clear();
    value.clear();
    key += day_key(brand_id, r.date);
    key += connection_id;
    put_lpstr(key, r.referrer);
    key += r.page;
    value.push_back(k_row_version);
    domain::schema::encode(domain::ai_row_fields(), r, value);
    b.put(column::ai_rows, key, value);
  }
  // Rows have distinct identities, hence distinct keys: write them in key order, so that
  // the memtable inserts each next to the previous one instead of searching from the top.
  b.sort_since(mark);
}

domain::status ai_store::scan_rows(std::int64_t brand_id, std::int64_t from_day,
                                   std::int64_t to_day,
                                   const std::function<bool(const stored_ai_row&)>& fn) const {
  auto pinned = db_->pin();
  if (!pinned.open()) return closed_store();
  const auto& in = *pinned;
  if (in.cf(column::ai_rows) == nullptr) return {};
  std::string start = day_key(brand_id, from_day);
  std::string limit = day_key(brand_id, to_day + 1);
  rocksdb::Slice upper(limit);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(in.rdb->NewIterator(ro, in.cf(column::ai_rows)));
  stored_ai_row row;
  for (it->Seek(start); it->Valid(); it->Next()) {
    auto st = decode_row_record(std::string_view(it->key().data(), it->key().size()),
                                std::string_view(it->value().data(), it->value().size()), row);
    if (!st) return st;
    if (!fn(row)) return {};
  }
  if (!it->status().ok()) return to_error(it->status(), "scanning AI-referral rows");
  return {};
}

std::string cluster_batch_scope(std::int64_t brand_id, const std::string& connection_id,
                                const std::string& batch_id) {
  std::string name = connection_id;
  name.push_back('\0');
  name += batch_id;
  auto d = domain::sha256(name);
  static constexpr char hex[] = "0123456789abcdef";
  std::string scope = "batch." + std::to_string(brand_id) + ".";
  for (std::size_t i = 0; i < 16; ++i) {
    scope.push_back(hex[d[i] >> 4]);
    scope.push_back(hex[d[i] & 15]);
  }
  return scope;
}

std::string encode_batch_record(const batch_record& rec) {
  std::string value(1, static_cast<char>(rec.kind));
  put_fixed64(value, static_cast<std::uint64_t>(rec.created_at));
  value.append(reinterpret_cast<const char*>(rec.body_digest.data()), 32);
  value += rec.response;
  return value;
}

domain::result<batch_record> decode_batch_record(std::string_view value) {
  reader r(value);
  std::uint8_t version = 0;
  std::uint64_t created = 0;
  std::string_view digest;
  if (r.u8(version) && version > 2) return newer("batch record", version);
  if ((version != 1 && version != 2) || !r.fixed64(created) || !r.bytes(32, digest)) {
    return corrupt("batch record");
  }
  batch_record rec;
  rec.kind = static_cast<batch_record::digest_of>(version);
  rec.created_at = static_cast<domain::unix_ms>(created);
  std::memcpy(rec.body_digest.data(), digest.data(), 32);
  rec.response = std::string(r.rest());
  return rec;
}

std::string batch_record_key(std::int64_t brand_id, const std::string& connection_id,
                             const std::string& batch_id) {
  return brand_prefix(brand_id) + connection_id + batch_id;
}

domain::result<std::optional<batch_record>> ai_store::get_batch(std::int64_t brand_id,
                                                                const std::string& connection_id,
                                                                const std::string& batch_id) const {
  auto v = db_->get(column::ai_batches, batch_record_key(brand_id, connection_id, batch_id));
  if (!v) return std::move(v).err();
  if (!v->has_value()) return std::optional<batch_record>{};
  auto rec = decode_batch_record(**v);
  if (!rec) return std::move(rec).err();
  return std::optional<batch_record>{std::move(*rec)};
}

void ai_store::put_batch(write_batch& b, std::int64_t brand_id, const std::string& connection_id,
                         const std::string& batch_id, const batch_record& rec) const {
  b.put(column::ai_batches, batch_record_key(brand_id, connection_id, batch_id),
        encode_batch_record(rec));
}

}  // namespace referrald::store
