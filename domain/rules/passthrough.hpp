#pragma once

// Passthrough referrers: external domains whose visits keep the session's attribution.
// This header holds the model and its field table; parsing, patching, JSON and the
// stored encoding are derived from the table (domain/rules/entities.hpp).

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "domain/base/clock.hpp"
#include "domain/base/result.hpp"
#include "domain/base/schema.hpp"

namespace referrald::domain {

struct passthrough_referrer {
  std::int64_t id = 0;
  std::string domain;  // normalized (docs/api-guide.md, "Passthrough referrers"), a valid host name
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

// The passthrough referrer's fields (domain/base/schema.hpp): the one definition of its
// API shape, validation and stored encoding.
std::span<const schema::field<passthrough_referrer>> passthrough_fields();

// The stored form of a domain: trimmed, normalized as a host (docs/api-guide.md, "Passthrough
// referrers"), a valid host name that is not a public suffix; else what is wrong.
result<std::string> normalize_domain(std::string_view raw);

}  // namespace referrald::domain
