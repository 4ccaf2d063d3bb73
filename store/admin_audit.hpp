#pragma once

// The admin audit streams (docs/api-guide.md, "Time travel, audit log and backups"): what happened
// to API keys (scope "keys") and to a brand's AI connections and pushes (scope "brand.<id>"), in
// the meta column family:
//
//   key   := "audit." scope "." entry_id
//   entry_id := unix_ms:13 decimal digits "-" 16 hex digits (unique per process and entry)
//   value := the entry's JSON object ({"id":entry_id,"at":RFC 3339,"type":...,...})
//
// Entries are written in the same atomic write as the change they record (in a cluster,
// in its record: every node's copy has them). Ids sort by time, so a scope reads oldest
// first. Thread-safe.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "domain/base/clock.hpp"
#include "domain/base/json.hpp"
#include "domain/base/result.hpp"
#include "store/db.hpp"

namespace referrald::store {

class admin_audit {
 public:
  // What every entry's key starts with.
  static constexpr std::string_view k_prefix = "audit.";

  explicit admin_audit(const db& d) : db_(&d) {}

  // Adds an entry of `type` at `at` to `batch`: `fields` writes the entry's other members
  // (inside its object).
  static void put(write_batch& batch, std::string_view scope, std::string_view type,
                  domain::unix_ms at, const std::function<void(domain::json_writer&)>& fields);

  // Whether an entry (key and value) is one `page` can show: a JSON object whose "id" is
  // the key's entry id, with "at" and "type" strings.
  static domain::status check_entry(std::string_view key, std::string_view value);

  // {"scope":..,"entries":[...],"has_more":b,"next_starting_after":id|null}: up to `limit`
  // entries of `scope` after the entry id `after` ("": from the first).
  domain::result<std::string> page(std::string_view scope, std::string_view after,
                                   std::size_t limit) const;

 private:
  const db* db_;
};

}  // namespace referrald::store
