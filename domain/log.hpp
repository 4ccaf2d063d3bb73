#pragma once

// Process log: one line per message on stderr, "2025-01-05T10:00:00.000Z level message".
// Thread-safe. The level is set once at start-up.

#include <optional>
#include <string_view>

namespace referrald::domain {

enum class log_level : int { error = 0, warn = 1, info = 2, debug = 3 };

std::optional<log_level> log_level_from_string(std::string_view s);
void set_log_level(log_level l);
bool log_enabled(log_level l);
void log(log_level l, std::string_view message);

}  // namespace referrald::domain
