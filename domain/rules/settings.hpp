#pragma once

// An account's settings: one object per account, changed by PATCH /settings and kept like
// the rules (every change an event, audited, readable as of any time). An account that
// never changed them has the defaults. How each setting acts on resolution is in
// docs/attribution.md; the API in docs/api-guide.md, "Settings".

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

struct account_settings {
  std::int64_t id = 1;  // the one object of the account (stored, not shown)
  // The account's own sites: "acme.com" (that host) or "*.acme.com" (it and every
  // subdomain); normalized like passthrough domains. A referrer on one of them is internal.
  std::vector<std::string> own_domains;
  // Query parameters read like utm_* when the landing URL has no utm_* value of their slot
  // (lowercase names); "matomo" in campaign_parameter_presets adds Matomo's names.
  std::vector<std::string> campaign_parameter_presets;
  std::vector<std::string> source_parameters, medium_parameters, campaign_parameters,
      term_parameters, content_parameters;
  bool known_referrers = true;        // rank 7 of the precedence
  bool default_channel_group = true;  // the fallback of the channel rules
  bool insights = true;               // live resolutions are counted (docs/insights.md)
  // Insights' suggestions dismissed: the referrer hosts (normalized) and utm_medium values
  // not suggested again (docs/insights.md, "Dismissing a suggestion").
  std::vector<std::string> insights_dismissed_hosts, insights_dismissed_mediums;
  std::optional<std::int64_t> created_at, updated_at;
  static constexpr bool is_active = true;  // for the generic collection

  // True when `host` (normalized) is one of own_domains.
  bool is_own(std::string_view host) const;

  // The campaign slot (0 source, 1 medium, 2 campaign, 3 term, 4 content) a query parameter
  // `name` (any ASCII case) fills under these settings, or -1.
  int campaign_slot(std::string_view name) const;

  // True when the settings read parameters besides utm_*.
  bool reads_campaign_parameters() const {
    return !campaign_parameter_presets.empty() || !source_parameters.empty() ||
           !medium_parameters.empty() || !campaign_parameters.empty() || !term_parameters.empty() ||
           !content_parameters.empty();
  }

  friend bool operator==(const account_settings& a, const account_settings& b);
};

std::span<const schema::field<account_settings>> settings_fields();

// Checks that every campaign parameter fills one value: a name is listed in one slot only,
// is not one of the five utm_* names (read as themselves), and is not read for another slot
// by a preset turned on. The error names the field of the name that cannot be read.
status check_campaign_parameters(const account_settings& s);

// The query parameter names a preset adds to each slot (source, medium, campaign, term,
// content); empty for an unknown preset.
std::span<const std::vector<std::string_view>> campaign_preset(std::string_view preset);

}  // namespace referrald::domain
