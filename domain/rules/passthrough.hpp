#pragma once

// Passthrough referrers (shared/seeds/passthrough-referrers-api.txt): external domains
// whose visits keep the session's attribution. This header holds the model, the
// validation of create and patch bodies, and the JSON shape used both by the API and by
// the event log (an event's object is exactly this JSON).

#include <rapidjson/fwd.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/base/clock.hpp"
#include "domain/base/json.hpp"
#include "domain/base/result.hpp"

namespace referrald::domain {

struct passthrough_referrer {
  std::int64_t id = 0;
  std::string domain;  // normalized (SPEC section 5), a valid host name
  std::string utm_source;
  std::string utm_medium = "passthrough";
  std::string utm_campaign;
  std::string utm_term;
  std::optional<std::string> service_name;
  bool is_active = true;
  unix_ms created_at = 0;
  unix_ms updated_at = 0;

  friend bool operator==(const passthrough_referrer&, const passthrough_referrer&) = default;
};

// A PATCH body: every member present in the body is set. `service_name` may be set to null.
struct passthrough_patch {
  std::optional<std::string> domain;  // normalized
  std::optional<std::string> utm_source;
  std::optional<std::string> utm_medium;
  std::optional<std::string> utm_campaign;
  std::optional<std::string> utm_term;
  std::optional<std::optional<std::string>> service_name;
  std::optional<bool> is_active;
};

// Validates a create body; the result has id 0 and no timestamps yet.
result<passthrough_referrer> parse_passthrough_create(const rapidjson::Value& body);

// Validates a patch body (all fields optional, same constraints as create).
result<passthrough_patch> parse_passthrough_patch(const rapidjson::Value& body);

// Applies `p` to `r`; returns the names of the fields whose value changed (possibly none).
// Does not touch timestamps.
std::vector<std::string> apply_patch(passthrough_referrer& r, const passthrough_patch& p);

// {"id":..,"account_id":..,"domain":..,...,"created_at":..,"updated_at":..}
void write_json(json_writer& w, std::string_view account_id, const passthrough_referrer& r);

// Decodes the JSON written by write_json (used when folding events).
result<passthrough_referrer> passthrough_from_json(const rapidjson::Value& v);

}  // namespace referrald::domain
