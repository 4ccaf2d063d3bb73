#pragma once

// Identifier rules (docs/api-guide.md, "Conventions" and "API keys").

#include <cstdint>
#include <optional>
#include <string_view>

namespace referrald::domain {

// 1–64 chars of [a-z0-9_-], starting with a letter or digit.
bool is_valid_account_id(std::string_view id);

// A brand id: a positive integer that fits in int64, written in plain decimal.
std::optional<std::int64_t> parse_brand_id(std::string_view s);

// An entity id in a path: a positive decimal integer that fits in int64.
std::optional<std::int64_t> parse_entity_id(std::string_view s);

}  // namespace referrald::domain
