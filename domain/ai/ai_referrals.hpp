#pragma once

// AI-referral rows pushed by analytics connectors (docs/api-guide.md, "AI referrals"): validation
// of a push, normalization, and the response it gets.
//
// A push is a JSON array of 1-10,000 rows. Each row is validated on its own; a bad row is
// rejected with "row N: ..." (N 0-based) and the others are still accepted. A row is
// identified by (brand, connection, date, normalized referrer, normalized page): within
// one push the last occurrence of an identity wins, and a stored row with the same
// identity is replaced (a restated day never double counts).
//
// Decisions beyond the API reference: lengths are counted in code points after trimming;
// an empty batch_id is the same as none; a row with fields the API does not define is
// rejected; every valid row counts in `accepted`, also one superseded later in the same
// push.

#include <rapidjson/fwd.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "domain/ai/ai_platforms.hpp"
#include "domain/base/clock.hpp"
#include "domain/base/result.hpp"
#include "domain/base/schema.hpp"

namespace referrald::domain {

struct ai_row {
  std::int64_t date = 0;     // days since 1970-01-01
  std::string referrer;      // normalized raw_referrer_value (identity)
  std::string page;          // normalized raw_page_value (identity)
  std::string platform;      // canonical AI platform id
  std::string raw_referrer;  // as given, trimmed
  std::string raw_page;      // as given, trimmed
  std::optional<std::int64_t> pageviews;
  std::optional<std::int64_t> sessions;
  std::optional<std::int64_t> transactions;
  std::optional<double> purchase_revenue;
  std::optional<std::string> batch_id;
  std::string list_version;  // of the allow-list that classified the referrer
  unix_ms received_at = 0;   // when the push that stored it was received

  friend bool operator==(const ai_row&, const ai_row&) = default;
};

// The row's fields (domain/base/schema.hpp): the push's field names, types, limits and
// messages, and the stored encoding of a row (store/ai_store.hpp). `date`, `referrer` and
// `page` are the row's identity, held in the stored record's key.
std::span<const schema::field<ai_row>> ai_row_fields();

struct push_outcome {
  std::vector<ai_row> rows;  // accepted, one per identity (the last occurrence), in order
  std::size_t accepted = 0;
  std::size_t rejected = 0;
  std::vector<std::string> errors;      // at most 100 messages, then "... and K more"
  std::optional<std::string> batch_id;  // when every row carries the same batch_id
};

inline constexpr std::size_t k_push_max_rows = 10000;
inline constexpr std::size_t k_push_max_errors = 100;

// Validates a parsed push body received at `now`. An error (400) only when the body as a
// whole is wrong: not an array, empty, or more than 10,000 rows.
result<push_outcome> validate_push(const rapidjson::Value& body, const ai_platform_list& list,
                                   unix_ms now);

// raw_page_value: a full URL (scheme://host...) becomes its path ("/" when it has none),
// query and fragment dropped; anything else is kept as given, trimmed.
std::string normalize_page(std::string_view raw);

// {"accepted":N,"rejected":M,"errors":[...]} — the push's own answer shape (no envelope;
// docs/openapi.json, PushResult).
std::string push_response_json(const push_outcome& o);

}  // namespace referrald::domain
