#pragma once

// Process log: one line per message, "2025-01-05T10:00:00.000Z level message", on stderr
// or in a file (set_log_file). Thread-safe. The level and the file are set at start-up;
// reopen_log_file() (on SIGHUP) reopens the file by name, for log rotation.

#include <optional>
#include <string_view>

namespace referrald::infra {

enum class log_level : int { error = 0, warn = 1, info = 2, debug = 3 };

std::optional<log_level> log_level_from_string(std::string_view s);
void set_log_level(log_level l);
// JSON lines ({"time":..,"level":..,"msg":..}) instead of "TIME LEVEL message".
void set_log_json(bool json);
bool log_enabled(log_level l);
void log(log_level l, std::string_view message);

// Appends to `path` from now on (created if missing). False, with stderr kept, when it
// cannot be opened.
bool set_log_file(const std::string& path);
// Reopens the log file (after a rotation moved it away); a no-op when logging to stderr.
void reopen_log_file();

}  // namespace referrald::infra
