#include "http/request_id.hpp"

#include <atomic>
#include <cstdint>
#include <ctime>
#include <random>

#include "http/error_table.hpp"
#include "http/steps.hpp"

namespace referrald::http {

bool sane_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char ch : id) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              std::string_view("-_.:/+=@").find(ch) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

std::string new_request_id() {
  static const std::uint64_t seed = std::random_device{}() * 0x9e3779b97f4a7c15ull ^
                                    static_cast<std::uint64_t>(std::time(nullptr));
  // Each thread numbers its ids in a block of 2^32 of its own (no shared counter on the hot
  // path); a new block when one is used up. Distinct numbers give distinct ids: what follows
  // is a bijection of 64-bit values.
  static std::atomic<std::uint64_t> blocks{0};
  thread_local std::uint64_t next = 0, end = 0;
  if (next == end) {
    next = (blocks.fetch_add(1) << 32) + 1;
    end = next + 0xffffffffull;
  }
  std::uint64_t z = seed + 0x9e3779b97f4a7c15ull * next++;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "req_";
  for (int shift = 60; shift >= 0; shift -= 4)
    out += hex[(z >> shift) & 15];
  return out;
}

void stamp_request_id(response& r, const std::string& id) {
  r.headers.emplace_back("X-Request-Id", id);
  if (r.error) {
    r.body = error_body(*r.error, id);
    r.error.reset();
  }
}

const std::string& request_id_of(exchange& ex) {
  if (ex.request_id.empty()) ex.request_id = new_request_id();
  return ex.request_id;
}

namespace {

class request_id_step final : public step {
 public:
  std::string_view name() const override { return "request id"; }
  verdict request(const flow& f) override {
    exchange& ex = f.ex();
    if (auto id = ex.field("X-Request-Id"); sane_request_id(id)) ex.request_id = id;
    return verdict::next();
  }
  void respond(exchange& ex, response& r) const override { stamp_request_id(r, request_id_of(ex)); }
};

}  // namespace

std::unique_ptr<step> make_request_id_step() { return std::make_unique<request_id_step>(); }

}  // namespace referrald::http
