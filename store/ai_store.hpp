#pragma once

// AI-referral data: connections, rows and batch idempotency records. The layouts are
// documented as grammars at the top of ai_store.cpp. Reads are thread-safe (and work on
// a read-only open); writes go through write_batch, so that a push is one atomic,
// synced write.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/ai/ai_referrals.hpp"
#include "domain/ai/connection.hpp"
#include "domain/base/digest.hpp"
#include "domain/base/result.hpp"
#include "store/db.hpp"

namespace referrald::store {

// A stored row as a report reads it: the row and the connection that pushed it.
struct stored_ai_row : domain::ai_row {
  std::string connection_id;
};

// The remembered outcome of a push that carried a batch_id.
struct batch_record {
  // What body_digest is a digest of. Records written before canonical digests existed
  // hold the raw body's; they are still compared that way for the 7 days they live.
  enum class digest_of : std::uint8_t { raw_body = 1, canonical_rows = 2 };
  domain::unix_ms created_at = 0;
  domain::sha256_digest body_digest{};
  std::string response;  // the JSON that was answered
  digest_of kind = digest_of::canonical_rows;
};

// Cluster mode: the records scope a batch_id is claimed on (cluster/cluster_log.hpp,
// "Records"): "batch." brand_id "." the first 16 bytes of SHA-256(connection_id NUL
// batch_id) as hex.
std::string cluster_batch_scope(std::int64_t brand_id, const std::string& connection_id,
                                const std::string& batch_id);

// A batch record's key in the ai_batches column.
std::string batch_record_key(std::int64_t brand_id, const std::string& connection_id,
                             const std::string& batch_id);

// A batch record's value in the ai_batches column, as put_batch writes it and as it is read.
std::string encode_batch_record(const batch_record& rec);
domain::result<batch_record> decode_batch_record(std::string_view value);

// A stored connection record, as load_connections reads it (the key must be its brand and
// id), and a stored row record into `r` (reused across a scan), as scan_rows reads it. A
// value in a version past the newest is refused as a newer release's (db.hpp).
domain::result<domain::connection> decode_connection_record(std::string_view key,
                                                            std::string_view value);
domain::status decode_row_record(std::string_view key, std::string_view value, stored_ai_row& r);

class ai_store {
 public:
  explicit ai_store(const db& d) : db_(&d) {}

  // -- connections --
  domain::result<std::vector<domain::connection>> load_connections() const;
  void put_connection(write_batch& b, const domain::connection& c) const;

  // -- rows: one put per row; an existing row with the same identity is replaced --
  void put_rows(write_batch& b, std::int64_t brand_id, const std::string& connection_id,
                const std::vector<domain::ai_row>& rows) const;

  // Calls `fn` with each row of the brand with from_day <= date <= to_day, in key order
  // (date, connection, referrer, page), until it returns false.
  domain::status scan_rows(std::int64_t brand_id, std::int64_t from_day, std::int64_t to_day,
                           const std::function<bool(const stored_ai_row&)>& fn) const;

  // -- batch ids --
  domain::result<std::optional<batch_record>> get_batch(std::int64_t brand_id,
                                                        const std::string& connection_id,
                                                        const std::string& batch_id) const;
  void put_batch(write_batch& b, std::int64_t brand_id, const std::string& connection_id,
                 const std::string& batch_id, const batch_record& r) const;

 private:
  const db* db_;
};

}  // namespace referrald::store
