#pragma once

// A filter of the keys a set holds (a Bloom filter of two probes, about 16 bits per key):
// "no" means the key is not held; "maybe" that it may be, and the set itself is asked.
// A removed key stays in the filter until it is rebuilt, which happens when it needs room
// for more keys or has taken many more keys than the set now holds.
//
// A value type for persistent states whose copies share one array of bits that only ever
// gains bits: a key added to one copy sets its bits in place, where the other copies see
// them too. For a filter that is harmless — a bit set for a key another copy does not hold
// can only turn that copy's "no" into a "maybe", which its set then answers — and it makes
// an add cost two atomic ORs instead of a copy of the bits the copies share (an account's
// states are copied on every write). A rebuild makes a new array for the copy rebuilt only.
// Reading is thread-safe, also while another copy adds; adding to one copy is not.
//
// Both probes of a key fall in one block of 4 KiB of the array.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "domain/base/string_table.hpp"

namespace referrald::domain {

class key_filter {
 public:
  bool may_hold(std::string_view key) const {
    if (!bits_) return false;  // no key was ever added
    const probe p = probe_of(key, bits_->blocks, bits_->block_words);
    const std::atomic<std::uint64_t>* b = bits_->words.get() + p.block * bits_->block_words;
    return ((b[p.i >> 6].load(std::memory_order_relaxed) >> (p.i & 63)) & 1) != 0 &&
           ((b[p.j >> 6].load(std::memory_order_relaxed) >> (p.j & 63)) & 1) != 0;
  }

  // `key` was added to the set, which now holds `held` keys; `each_key(fn)` calls `fn` on
  // every key the set holds (`key` among them), for a rebuild.
  template <class EachKey>
  void add(std::string_view key, std::size_t held, const EachKey& each_key) {
    const std::size_t words = words_for(held);
    if (!bits_ || bits_->blocks * bits_->block_words < words || set_since_build_ > 2 * held + 64) {
      auto fresh = std::make_shared<array>(words);
      each_key([&](std::string_view k) { fresh->set_unshared(k); });
      bits_ = std::move(fresh);
      set_since_build_ = held;
      return;
    }
    bits_->set(key);
    ++set_since_build_;
  }

 private:
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

  struct array {
    explicit array(std::size_t n)
        : block_words(std::min(n, k_block_words)),
          blocks(n / block_words),
          words(new std::atomic<std::uint64_t>[n]) {
      for (std::size_t w = 0; w < n; ++w)
        words[w].store(0, std::memory_order_relaxed);
    }
    // Sets `key`'s bits in an array other copies may share (and read or add to meanwhile).
    void set(std::string_view key) {
      const probe p = probe_of(key, blocks, block_words);
      std::atomic<std::uint64_t>* b = words.get() + p.block * block_words;
      b[p.i >> 6].fetch_or(std::uint64_t{1} << (p.i & 63), std::memory_order_relaxed);
      b[p.j >> 6].fetch_or(std::uint64_t{1} << (p.j & 63), std::memory_order_relaxed);
    }
    // The same for an array no other copy holds yet (a rebuild): no locked instruction.
    void set_unshared(std::string_view key) {
      const probe p = probe_of(key, blocks, block_words);
      std::atomic<std::uint64_t>* b = words.get() + p.block * block_words;
      for (std::size_t bit : {p.i, p.j}) {
        auto& w = b[bit >> 6];
        w.store(w.load(std::memory_order_relaxed) | (std::uint64_t{1} << (bit & 63)),
                std::memory_order_relaxed);
      }
    }
    std::size_t block_words;
    std::size_t blocks;
    std::unique_ptr<std::atomic<std::uint64_t>[]> words;
  };

  // 16 bits per key, a power of two from 512 bits to 2^24 (beyond, "maybe" grows likelier).
  static std::size_t words_for(std::size_t keys) {
    std::size_t bits = 512;
    while (bits < 16 * keys && bits < (std::size_t{1} << 24))
      bits <<= 1;
    return bits / 64;
  }
  std::shared_ptr<array> bits_;
  std::size_t set_since_build_ = 0;  // keys set since the last build, removed ones too
};

}  // namespace referrald::domain
