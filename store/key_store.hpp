#pragma once

// API keys in the `keys` column family:
//
//   key   := id:fixed64-big-endian
//   value := 0x02 tagged   (written: the key's field table, domain/auth/api_key.cpp, in the
//                           encoding of domain/base/schema.hpp)
//          | 0x01 JSON     (read: what release 0.2 wrote — the public fields, the secret's
//                           SHA-256 as hex as "secret_sha256", revoked_at or null)
//
// Revoked keys stay stored (audit events name key ids) but no longer authenticate.
// Thread-safe reads; writes go through a write_batch.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "domain/auth/api_key.hpp"
#include "domain/base/result.hpp"
#include "store/db.hpp"

namespace referrald::store {

class key_store {
 public:
  explicit key_store(const db& d) : db_(&d) {}

  // Every stored key, revoked ones included, ordered by id.
  domain::result<std::vector<domain::api_key>> load_all() const;

  // Adds the put of `k` (new or changed) to `batch`.
  void put(write_batch& batch, const domain::api_key& k) const;

 private:
  const db* db_;
};

// A stored key record (the layout above), as load_all reads it. Refused when the value's
// version is unknown (one past the newest is named as a newer release's, db.hpp), the
// value does not decode, or the key is not the record's id.
domain::result<domain::api_key> decode_key_record(std::string_view key, std::string_view value);

// Creates a key with a fresh id (one more than the largest stored) and writes it synced.
// For use where no keys actor runs: server start-up (bootstrap) and referralctl.
// Returns the key; `secret` is the secret to show once.
domain::result<domain::api_key> create_key_offline(db& d, const domain::api_key_request& req,
                                                   const std::string& secret);

}  // namespace referrald::store
