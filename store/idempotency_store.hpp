#pragma once

// Idempotency-Key records (docs/api-guide.md, "Idempotent retries") in the meta column family:
//
//   key   := "idempotency." api_key_id:decimal "." idempotency_key
//   value := JSON {"at":unix_ms,"fingerprint":hex,"status":201,"content_type":"...",
//                  "headers":[[name,value],...],"body":"..."}
//
// A record is the answer a creating POST got; it is kept 24 hours. Thread-safe reads; put()
// and purge() write synced, so they must not run on an actor or I/O thread.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "domain/base/clock.hpp"
#include "domain/base/json.hpp"
#include "domain/base/result.hpp"
#include "store/db.hpp"

namespace referrald::store {

using answer_headers = std::vector<std::pair<std::string, std::string>>;

struct idempotency_record {
  std::string scope;  // api_key_id "." idempotency_key
  domain::unix_ms at = 0;
  std::string fingerprint;  // of the request: method, target, content type and body
  unsigned status = 0;
  std::string content_type;
  answer_headers headers;
  std::string body;
};

// The fields of a stored answer, "status", "content_type", "headers" and "body", written
// into the object `w` is writing; the same fields read from `object` (false when one is
// missing or of another type, or when they are no answer HTTP can carry: a status outside
// 100-599, a header name that is not a token, a CR, LF or NUL in a header or the content
// type). Also the fields of the cluster's answer messages
// (http/idempotency.cpp).
void write_answer_fields(domain::json_writer& w, unsigned status, std::string_view content_type,
                         const answer_headers& headers, std::string_view body);
bool read_answer_fields(const rapidjson::Value& object, unsigned& status, std::string& content_type,
                        answer_headers& headers, std::string& body);

class idempotency_store {
 public:
  explicit idempotency_store(db& d) : db_(&d) {}

  // Every record made at or after `since`.
  domain::result<std::vector<idempotency_record>> load_since(domain::unix_ms since) const;
  // Adds the puts of `records` to `batch`.
  void put(write_batch& batch, const idempotency_record& r) const;
  // Adds the deletes of every record made before `before` to `batch`.
  domain::status purge(write_batch& batch, domain::unix_ms before) const;

 private:
  db* db_;
};

}  // namespace referrald::store
