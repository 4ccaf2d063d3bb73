#include "infra/log.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "domain/base/clock.hpp"
#include "domain/base/json.hpp"
#include "domain/base/text.hpp"

namespace referrald::infra {

namespace {

std::atomic<int> g_level{static_cast<int>(log_level::info)};
std::atomic<bool> g_json{false};
std::mutex g_mu;
std::string g_path;  // empty: stderr
std::FILE* g_file = nullptr;

const char* name(log_level l) {
  switch (l) {
    case log_level::error:
      return "error";
    case log_level::warn:
      return "warn";
    case log_level::info:
      return "info";
    case log_level::debug:
      return "debug";
  }
  return "info";
}

// A message longer than this is cut (the messages that quote a request quote an excerpt;
// this bounds everything else).
constexpr std::size_t k_max_message = 16 * 1024;

// Appends `message` as the text of one line: control characters as \xNN, so that no
// message can start a line of its own (a forged entry) or send a terminal escape, and
// bytes that are not UTF-8 as U+FFFD.
void append_text(std::string& line, std::string_view message) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string valid = domain::to_valid_utf8(message);
  for (char ch : valid) {
    auto u = static_cast<unsigned char>(ch);
    if (u < 0x20 || u == 0x7F) {
      line += "\\x";
      line += hex[u >> 4];
      line += hex[u & 15];
    } else {
      line += ch;
    }
  }
}

}  // namespace

std::optional<log_level> log_level_from_string(std::string_view s) {
  if (s == "error") return log_level::error;
  if (s == "warn") return log_level::warn;
  if (s == "info") return log_level::info;
  if (s == "debug") return log_level::debug;
  return std::nullopt;
}

void set_log_level(log_level l) { g_level.store(static_cast<int>(l)); }

void set_log_json(bool json) { g_json.store(json); }

bool log_enabled(log_level l) { return static_cast<int>(l) <= g_level.load(); }

void log(log_level l, std::string_view message) {
  if (!log_enabled(l)) return;
  std::string cut;
  if (message.size() > k_max_message) {
    cut = domain::excerpt(message.substr(0, k_max_message), k_max_message) + " (" +
          std::to_string(message.size() - k_max_message) + " more bytes)";
    message = cut;
  }
  std::string line;
  if (g_json.load(std::memory_order_relaxed)) {
    rapidjson::StringBuffer buf;
    domain::json_writer w(buf);
    w.StartObject();
    w.Key("time");
    domain::write_string(w, domain::format_rfc3339(domain::now_ms()));
    w.Key("level");
    w.String(name(l));
    w.Key("msg");
    domain::write_string(w, message);
    w.EndObject();
    line.assign(buf.GetString(), buf.GetSize());
  } else {
    line = domain::format_rfc3339(domain::now_ms());
    line += ' ';
    line += name(l);
    line += ' ';
    append_text(line, message);
  }
  line += '\n';
  std::lock_guard lock(g_mu);
  std::FILE* out = g_file != nullptr ? g_file : stderr;
  std::fwrite(line.data(), 1, line.size(), out);
  std::fflush(out);
}

bool set_log_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "a");
  if (f == nullptr) return false;
  std::lock_guard lock(g_mu);
  if (g_file != nullptr) std::fclose(g_file);
  g_file = f;
  g_path = path;
  return true;
}

void reopen_log_file() {
  std::lock_guard lock(g_mu);
  if (g_path.empty()) return;
  std::FILE* f = std::fopen(g_path.c_str(), "a");
  if (f == nullptr) return;  // keep writing to the old one rather than lose lines
  if (g_file != nullptr) std::fclose(g_file);
  g_file = f;
}

}  // namespace referrald::infra
