#pragma once

// A filter of the keys a set holds (a Bloom filter of two probes, about 16 bits per key):
// "no" means the key is not held; "maybe" that it may be, and the set itself is asked.
// A removed key stays in the filter until it is rebuilt, which happens when it needs room
// for more keys or has taken many more keys than the set now holds.
//
// A value type for persistent states: copies share the bits, and a change to a copy whose
// bits are shared makes its own (a few KiB for an account of thousands of keys). Reading
// is thread-safe; changing is not.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "domain/base/string_table.hpp"

namespace referrald::domain {

class key_filter {
 public:
  bool may_hold(std::string_view key) const {
    if (!bits_) return false;  // no key was ever added
    auto [i, j] = probes(key, bits_->size() * 64 - 1);
    const auto& b = *bits_;
    return ((b[i >> 6] >> (i & 63)) & 1) != 0 && ((b[j >> 6] >> (j & 63)) & 1) != 0;
  }

  // `key` was added to the set, which now holds `held` keys; `each_key(fn)` calls `fn` on
  // every key the set holds (`key` among them), for a rebuild.
  template <class EachKey>
  void add(std::string_view key, std::size_t held, const EachKey& each_key) {
    std::size_t words = words_for(held);
    if (!bits_ || bits_->size() < words || set_since_build_ > 2 * held + 64) {
      auto fresh = std::make_shared<std::vector<std::uint64_t>>(words, 0);
      each_key([&](std::string_view k) { set(*fresh, k); });
      bits_ = std::move(fresh);
      set_since_build_ = held;
      return;
    }
    if (bits_.use_count() != 1) bits_ = std::make_shared<std::vector<std::uint64_t>>(*bits_);
    set(*bits_, key);
    ++set_since_build_;
  }

 private:
  static std::pair<std::size_t, std::size_t> probes(std::string_view key, std::size_t mask) {
    std::uint64_t h = string_hash(key);
    return {static_cast<std::size_t>(h) & mask, static_cast<std::size_t>(h >> 32) & mask};
  }
  static void set(std::vector<std::uint64_t>& b, std::string_view key) {
    auto [i, j] = probes(key, b.size() * 64 - 1);
    b[i >> 6] |= std::uint64_t{1} << (i & 63);
    b[j >> 6] |= std::uint64_t{1} << (j & 63);
  }
  // 16 bits per key, a power of two from 512 bits to 2^24 (beyond, "maybe" grows likelier).
  static std::size_t words_for(std::size_t keys) {
    std::size_t bits = 512;
    while (bits < 16 * keys && bits < (std::size_t{1} << 24))
      bits <<= 1;
    return bits / 64;
  }

  std::shared_ptr<std::vector<std::uint64_t>> bits_;
  std::size_t set_since_build_ = 0;  // keys set since the last build, removed ones too
};

}  // namespace referrald::domain
