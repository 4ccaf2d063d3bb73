// Snapshot layout (column family "snapshots"):
//
//   key       := account_id 0x00 seq:fixed64-big-endian
//                (one account's snapshots are one contiguous, seq-ordered key range)
//   value     := version:u8 last_timestamp_ms:fixed64 head_hash:32*u8
//                referrers:kind mappings:kind [channel_rules:kind [settings:kind]]
//                crc:fixed32
//                (one kind per kind of domain::rule_kinds, in its order; the kinds after
//                the mappings only up to the last that was ever used, next_id > 1, so that
//                the snapshot of an account without them is what release 0.3 wrote; a
//                kind not written is empty)
//   version   := 0x02 (written) | 0x01 (read: snapshots of release 0.2 and before)
//   kind      := next_id:fixed64 count:varint entity*
//   entity    := id:fixed64 object:lpstr    (ascending id)
//   object    := version 0x02: the entity's tagged encoding (domain/base/schema.hpp)
//              | version 0x01: the entity's API JSON as release 0.2 wrote it
//   head_hash := hash of event `seq` (store/event_log.cpp): ties the snapshot to the log
//   crc       := CRC-32C of key || value[0 .. offset of crc)
//   fixed64, fixed32, varint, lpstr as in domain/base/codec.hpp
//
// The state is the fold of events 1..seq: every collection (active and inactive entities,
// deleted ones gone) with the next id each would assign, the head hash and the timestamp
// of the last event. Counters and indexes are derived on decode.

#include "snapshots/snapshot_store.hpp"

#include <algorithm>
#include <optional>

#include "domain/base/codec.hpp"
#include "domain/rules/entities.hpp"

namespace referrald::snapshots {

namespace {

using namespace codec;

constexpr std::uint8_t k_snapshot_version = 2;     // written
constexpr std::uint8_t k_snapshot_version_v1 = 1;  // read
constexpr std::size_t k_digest_size = 32;
constexpr std::size_t k_header_size = 1 + 8 + k_digest_size;

domain::error corrupt(std::string_view account_id, std::uint64_t seq, const std::string& why) {
  return domain::make_error(
      domain::errc::internal,
      "snapshot " + std::string(account_id) + "@" + std::to_string(seq) + " is corrupt: " + why);
}

template <class T>
void put_kind(std::string& out, const domain::collection<T>& c) {
  put_fixed64(out, static_cast<std::uint64_t>(c.next_id()));
  put_varint(out, c.size());
  std::string object;  // one buffer for every entity
  for (auto [id, e] : c.items()) {
    put_fixed64(out, static_cast<std::uint64_t>(id));
    object.clear();
    domain::encode_object(e->value, object);
    put_lpstr(out, object);
  }
}

template <class T>
domain::result<domain::collection<T>> get_kind(reader& r, std::string_view account_id,
                                               std::uint64_t seq, domain::object_format format) {
  std::uint64_t next_id = 0, count = 0;
  if (!r.fixed64(next_id) || !r.varint(count)) return corrupt(account_id, seq, "truncated");
  std::vector<domain::entity_ref<T>> entities;
  entities.reserve(std::min<std::uint64_t>(count, r.remaining()));
  for (std::uint64_t i = 0; i < count; ++i) {
    std::uint64_t id = 0;
    std::string_view object;
    std::uint64_t size = 0;
    if (!r.fixed64(id) || !r.varint(size) || !r.bytes(size, object)) {
      return corrupt(account_id, seq, "truncated entity");
    }
    auto value = domain::decode_object<T>(format, object);
    if (!value) return corrupt(account_id, seq, value.err().message);
    if (value->id != static_cast<std::int64_t>(id)) {
      return corrupt(account_id, seq, "entity id differs from its record");
    }
    entities.push_back(domain::make_entity(std::move(*value)));
  }
  auto c = domain::collection<T>::restore(std::move(entities), static_cast<std::int64_t>(next_id));
  if (!c) return corrupt(account_id, seq, c.err().message);
  return c;
}

// The body of a stored snapshot whose CRC (over key || body) checks; nullopt otherwise.
std::optional<std::string_view> checked_body(std::string_view key, std::string_view value) {
  std::string_view body;
  std::uint32_t stored = 0;
  if (!split_crc32(value, body, stored)) return std::nullopt;
  if (domain::crc32c(body, domain::crc32c(key)) != stored) return std::nullopt;
  return body;
}

}  // namespace

std::string encode_snapshot_key(std::string_view account_id, std::uint64_t seq) {
  return account_seq_key(account_id, seq);
}

std::string encode_snapshot(const domain::account_state& state, std::size_t size_hint) {
  std::string v;
  v.reserve(size_hint);
  v.push_back(static_cast<char>(k_snapshot_version));
  put_fixed64(v, static_cast<std::uint64_t>(state.last_timestamp()));
  v.append(reinterpret_cast<const char*>(state.head_hash().data()), k_digest_size);
  // The kinds to write: the first two always, the others up to the last one used.
  std::size_t kinds = 2, i = 0;
  domain::for_each_kind([&]<class T>(std::type_identity<T>) {
    ++i;
    if (state.entities<T>().next_id() > 1) kinds = std::max(kinds, i);
  });
  i = 0;
  domain::for_each_kind([&]<class T>(std::type_identity<T>) {
    if (i++ < kinds) put_kind(v, state.entities<T>());
  });
  put_fixed32(
      v, domain::crc32c(v, domain::crc32c(encode_snapshot_key(state.account_id(), state.seq()))));
  return v;
}

domain::result<domain::account_state> decode_snapshot(std::string_view account_id,
                                                      std::uint64_t seq, std::string_view value) {
  if (value.size() < k_header_size + 4) return corrupt(account_id, seq, "truncated");
  auto body = checked_body(encode_snapshot_key(account_id, seq), value);
  if (!body) return corrupt(account_id, seq, "checksum mismatch");
  reader r(*body);
  std::uint8_t version = 0;
  std::uint64_t ts = 0;
  domain::sha256_digest head{};
  if (!r.u8(version)) return corrupt(account_id, seq, "truncated");
  if (version != k_snapshot_version && version != k_snapshot_version_v1) {
    return corrupt(account_id, seq, "unknown format version " + std::to_string(version));
  }
  // The entities' format is the snapshot's version (1: API JSON; 2: tagged).
  auto format = static_cast<domain::object_format>(version);
  if (!r.fixed64(ts) || !r.bytes(k_digest_size, head.data())) {
    return corrupt(account_id, seq, "truncated");
  }
  domain::kind_collections kinds;
  std::optional<domain::error> bad;
  std::size_t i = 0;
  domain::for_each_kind([&]<class T>(std::type_identity<T>) {
    // The first two kinds are always there; a later one only when written.
    if (bad || (i++ >= 2 && r.remaining() == 0)) return;
    auto c = get_kind<T>(r, account_id, seq, format);
    if (!c) {
      bad = std::move(c).err();
      return;
    }
    std::get<domain::collection<T>>(kinds) = std::move(*c);
  });
  if (bad) return std::move(*bad);
  if (r.remaining() != 0) return corrupt(account_id, seq, "bad length");
  return domain::account_state::restore(std::string(account_id), seq, head,
                                        static_cast<domain::unix_ms>(ts), std::move(kinds));
}

domain::status snapshot_store::put(store::write_batch& batch,
                                   const domain::account_state& state) const {
  // Which to drop needs only their keys: no body is checked.
  auto existing =
      scan(account_prefix(state.account_id()), account_limit(state.account_id()), false);
  if (!existing) return std::move(existing).err();
  std::size_t older = 0, last_bytes = 0;
  for (const auto& s : *existing) {
    if (s.seq >= state.seq()) continue;
    ++older;
    last_bytes = s.bytes;
  }
  // Keep the newest keep-1 older ones next to the new one.
  std::size_t drop = older >= keep ? older - (keep - 1) : 0;
  for (const auto& s : *existing) {
    if (drop == 0) break;
    if (s.seq < state.seq()) {
      batch.erase(store::column::snapshots, encode_snapshot_key(s.account_id, s.seq));
      --drop;
    }
  }
  // The newest older snapshot's size, with room to grow, spares the encoding's buffer its
  // reallocations.
  batch.put(store::column::snapshots, encode_snapshot_key(state.account_id(), state.seq()),
            encode_snapshot(state, last_bytes + last_bytes / 4));
  return {};
}

domain::result<std::vector<snapshot_info>> snapshot_store::scan(std::string_view from,
                                                                std::string_view until,
                                                                bool check_bodies) const {
  std::vector<snapshot_info> out;
  domain::status bad;
  auto st = db_->scan(
      store::column::snapshots, from, until, [&](std::string_view key, std::string_view value) {
        auto zero = key.find('\0');
        if (zero == std::string_view::npos || key.size() != zero + 9) {
          bad = domain::make_error(domain::errc::internal, "malformed snapshot key");
          return false;
        }
        snapshot_info info;
        info.account_id = std::string(key.substr(0, zero));
        info.seq = get_fixed64_be(key.data() + zero + 1);
        info.bytes = value.size();
        if (!check_bodies) {
          out.push_back(std::move(info));
          return true;
        }
        auto version = value.empty() ? 0 : static_cast<std::uint8_t>(value[0]);
        auto body = value.size() >= k_header_size + 4 &&
                            (version == k_snapshot_version || version == k_snapshot_version_v1)
                        ? checked_body(key, value)
                        : std::nullopt;
        std::uint64_t ts = 0;
        reader r(body ? body->substr(1) : std::string_view());
        info.readable = body.has_value() && r.fixed64(ts);
        info.last_timestamp = static_cast<std::int64_t>(ts);
        out.push_back(std::move(info));
        return true;
      });
  if (!st) return std::move(st).err();
  if (!bad) return std::move(bad).err();
  return out;
}

domain::result<std::vector<snapshot_info>> snapshot_store::list(std::string_view account_id) const {
  return scan(account_prefix(account_id), account_limit(account_id), true);
}

domain::result<std::vector<snapshot_info>> snapshot_store::list_all() const {
  return scan("", "", true);
}

domain::result<std::optional<std::string>> snapshot_store::read(std::string_view account_id,
                                                                std::uint64_t seq) const {
  return db_->get(store::column::snapshots, encode_snapshot_key(account_id, seq));
}

bool snapshot_due(std::uint64_t events_since, std::size_t rules, std::uint64_t every) {
  if (every == 0) return false;
  return events_since >= std::max<std::uint64_t>(every, rules / 2);
}

}  // namespace referrald::snapshots
