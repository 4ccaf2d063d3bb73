#pragma once

// A filter of the keys a set holds (a Bloom filter of two probes, about 16 bits per key):
// "no" means the key is not held; "maybe" that it may be, and the set itself is asked.
// A removed key stays in the filter until it is rebuilt, which happens when it needs room
// for more keys or has taken many more keys than the set now holds.
//
// A value type for persistent states: copies share the bits, held in blocks of 4 KiB (both
// probes of a key fall in one block), and a change to a copy whose bits are shared makes
// its own list of blocks and its own copy of the one block it changes — not of every bit
// (an account of 20,000 keys holds 40 KiB of them). Reading is thread-safe; changing is not.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "domain/base/held_alone.hpp"
#include "domain/base/string_table.hpp"

namespace referrald::domain {

class key_filter {
 public:
  bool may_hold(std::string_view key) const {
    if (!blocks_) return false;  // no key was ever added
    const probe p = probe_of(key, blocks_->size(), block_words_);
    const std::uint64_t* b = (*blocks_)[p.block].get();
    return ((b[p.i >> 6] >> (p.i & 63)) & 1) != 0 && ((b[p.j >> 6] >> (p.j & 63)) & 1) != 0;
  }

  // `key` was added to the set, which now holds `held` keys; `each_key(fn)` calls `fn` on
  // every key the set holds (`key` among them), for a rebuild.
  template <class EachKey>
  void add(std::string_view key, std::size_t held, const EachKey& each_key) {
    std::size_t words = words_for(held);
    if (!blocks_ || blocks_->size() * block_words_ < words || set_since_build_ > 2 * held + 64) {
      block_words_ = std::min(words, k_block_words);
      auto fresh = std::make_shared<block_list>(words / block_words_);
      for (auto& b : *fresh)
        b = std::make_shared<std::uint64_t[]>(block_words_);  // zeroed
      each_key([&](std::string_view k) { set(*fresh, block_words_, k); });
      blocks_ = std::move(fresh);
      set_since_build_ = held;
      return;
    }
    if (!held_alone(blocks_)) blocks_ = std::make_shared<block_list>(*blocks_);
    const probe p = probe_of(key, blocks_->size(), block_words_);
    auto& b = (*blocks_)[p.block];
    if (!held_alone(b)) {
      auto own = std::make_shared<std::uint64_t[]>(block_words_);
      std::memcpy(own.get(), b.get(), block_words_ * sizeof(std::uint64_t));
      b = std::move(own);
    }
    set_bits(b.get(), p);
    ++set_since_build_;
  }

 private:
  using block_list = std::vector<std::shared_ptr<std::uint64_t[]>>;
  static constexpr std::size_t k_block_words = 512;  // 4 KiB, 32,768 bits

  struct probe {
    std::size_t block, i, j;
  };
  // The block from the hash's high bits, the two bits in it from two low fields.
  static probe probe_of(std::string_view key, std::size_t blocks, std::size_t block_words) {
    const std::uint64_t h = string_hash(key);
    const std::size_t mask = block_words * 64 - 1;
    return {static_cast<std::size_t>(h >> 40) & (blocks - 1), static_cast<std::size_t>(h) & mask,
            static_cast<std::size_t>(h >> 20) & mask};
  }
  static void set_bits(std::uint64_t* b, const probe& p) {
    b[p.i >> 6] |= std::uint64_t{1} << (p.i & 63);
    b[p.j >> 6] |= std::uint64_t{1} << (p.j & 63);
  }
  static void set(block_list& blocks, std::size_t block_words, std::string_view key) {
    const probe p = probe_of(key, blocks.size(), block_words);
    set_bits(blocks[p.block].get(), p);
  }
  // 16 bits per key, a power of two from 512 bits to 2^24 (beyond, "maybe" grows likelier).
  static std::size_t words_for(std::size_t keys) {
    std::size_t bits = 512;
    while (bits < 16 * keys && bits < (std::size_t{1} << 24))
      bits <<= 1;
    return bits / 64;
  }
  std::shared_ptr<block_list> blocks_;
  std::size_t block_words_ = 0;
  std::size_t set_since_build_ = 0;  // keys set since the last build, removed ones too
};

}  // namespace referrald::domain
