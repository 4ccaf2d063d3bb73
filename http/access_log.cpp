#include "http/access_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <thread>

#include "domain/base/clock.hpp"
#include "domain/base/json.hpp"
#include "domain/base/text.hpp"
#include "http/framing.hpp"
#include "infra/log.hpp"

namespace referrald::http {

namespace {

constexpr std::size_t k_flush_at = 32u << 10;

// A logged value as a JSON string. Tenant ids and methods come from the request as the
// client sent them: at most 100 code points of them are kept.
void append_string(std::string& out, std::string_view s) {
  if (s.size() <= 100) {
    domain::append_json_string(out, s);
  } else {
    domain::append_json_string(out, domain::excerpt(s));
  }
}

// The current time as RFC 3339 with milliseconds; the part up to the seconds is formatted
// once a second per thread.
void append_now(std::string& out) {
  thread_local std::int64_t cached_second = -1;
  thread_local std::string cached;  // "2026-11-22T10:00:00."
  auto ms = domain::now_ms();
  std::int64_t second = ms / 1000;
  if (second != cached_second) {
    cached = domain::format_rfc3339(second * 1000);
    cached.resize(cached.size() - 4);  // drop "000Z", keep the '.'
    cached_second = second;
  }
  out += cached;
  auto frac = static_cast<int>(ms % 1000);
  out += static_cast<char>('0' + frac / 100);
  out += static_cast<char>('0' + frac / 10 % 10);
  out += static_cast<char>('0' + frac % 10);
  out += 'Z';
}

void append_number(std::string& out, std::int64_t n) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, end);
}

}  // namespace

bool access_log::open(const std::string& target) {
  path_ = target;
  if (target.empty()) return true;
  if (target == "-") {
    fd_ = STDERR_FILENO;
    return true;
  }
  int fd = ::open(target.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return false;
  fd_ = fd;
  return true;
}

void access_log::reopen() {
  if (path_.empty() || path_ == "-") return;
  int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return;  // keep writing to the old file rather than lose lines
  int old = fd_.exchange(fd);
  // A thread that loaded the old descriptor just before may still write to it: a line lands
  // in the rotated file, which is what logrotate's copy expects anyway. Closing it a little
  // later keeps that write from reaching an unrelated file that reused the number.
  std::thread([old] {
    std::this_thread::sleep_for(std::chrono::seconds(5));
    ::close(old);
  }).detach();
}

access_log::~access_log() {
  int fd = fd_.load();
  if (fd > STDERR_FILENO) ::close(fd);
}

void access_log::add(std::string& b, const entry& e) const {
  if (!enabled()) return;
  b += "{\"time\":\"";
  append_now(b);
  b += "\",\"request_id\":";
  append_string(b, e.request_id);
  if (e.key_id) {
    b += ",\"key_id\":";
    append_number(b, *e.key_id);
  }
  b += ",\"method\":";
  append_string(b, e.method);
  b += ",\"route\":";
  if (e.route.empty()) {
    b += "null";
  } else {
    append_string(b, e.route);
  }
  if (!e.account_id.empty()) {
    b += ",\"account_id\":";
    append_string(b, e.account_id);
  }
  if (!e.brand_id.empty()) {
    b += ",\"brand_id\":";
    append_string(b, e.brand_id);
  }
  b += ",\"status\":";
  append_number(b, e.status);
  b += ",\"bytes\":";
  append_number(b, static_cast<std::int64_t>(e.bytes));
  b += ",\"duration_us\":";
  append_number(b, e.duration_us);
  b += ",\"remote\":";
  append_string(b, e.remote);
  b += "}\n";
  if (b.size() >= k_flush_at) flush(b);
}

void access_log::flush(std::string& b) const {
  if (b.empty()) return;
  int fd = fd_.load(std::memory_order_relaxed);
  std::string_view rest = b;
  while (fd >= 0 && !rest.empty()) {
    ssize_t n = ::write(fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // a full disk loses log lines, never requests
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  b.clear();
}

void log_answer(const access_log& log, std::string& buffer, const exchange& ex, const response& r,
                std::size_t bytes, std::chrono::steady_clock::duration took,
                std::string_view remote) {
  auto& req = ex.head();
  bool found = ex.routed();
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(took).count();
  std::string_view verb = to_string(to_method(req.method()));
  if (verb == "OTHER") verb = {req.method_string().data(), req.method_string().size()};
  access_log::entry e;
  e.request_id = ex.request_id;
  if (ex.key != nullptr) e.key_id = ex.key->id;
  e.method = verb;
  if (found) {
    e.route = ex.match.entry->pattern;
  } else if (ex.match.same_path != nullptr) {
    e.route = ex.match.same_path->pattern;  // a wrong method, or OPTIONS, on a known path
  }
  if (ex.named.kind == tenant_of::account) e.account_id = ex.named.id;
  if (ex.named.kind == tenant_of::brand) e.brand_id = ex.named.id;
  e.status = r.status;
  e.bytes = bytes;
  e.duration_us = us;
  e.remote = remote;
  log.add(buffer, e);
  bool server_error = r.status >= 500;
  if (!server_error && !infra::log_enabled(infra::log_level::debug)) return;
  std::string line = "request " + ex.request_id + " " + std::string(verb) + " " +
                     std::string(found ? std::string_view(ex.match.entry->pattern) : ex.path) +
                     ": " + std::to_string(r.status) + " in " + std::to_string(us) + " us";
  if (server_error) {
    line += ": " + r.body.substr(0, 400);
    infra::log(infra::log_level::warn, line);
  } else {
    infra::log(infra::log_level::debug, line);
  }
}

}  // namespace referrald::http
