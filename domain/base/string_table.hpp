#pragma once

// A hash table from strings to values for the lookups of every resolution (rule patterns,
// known hosts, click ids): built once, then only read. Open addressing with linear probing
// in one array of slots, the keys' bytes side by side in one buffer, a hash that reads
// eight bytes at a time: a lookup costs one hash, one or two slots and one comparison,
// where a node-based map costs a pointer chase per bucket and allocates per key.
//
// Not thread-safe while built; any number of threads may read a built table.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace referrald::domain {

inline std::uint64_t string_hash(std::string_view s) {
  constexpr std::uint64_t k1 = 0x9E3779B97F4A7C15ull;
  constexpr std::uint64_t k2 = 0xC2B2AE3D27D4EB4Full;
  std::uint64_t h = s.size() * k1;
  const char* p = s.data();
  std::size_t n = s.size();
  for (; n >= 8; n -= 8, p += 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    w *= k2;
    w = (w << 31) | (w >> 33);
    h = (h ^ w) * k1;
  }
  if (n > 0) {
    std::uint64_t w = 0;
    std::memcpy(&w, p, n);
    w *= k2;
    w = (w << 31) | (w >> 33);
    h = (h ^ w) * k1;
  }
  h ^= h >> 32;
  h *= k2;
  h ^= h >> 29;
  return h;
}

template <class V>
class string_table {
 public:
  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }

  // Adds `key` with `value` unless it is there already (then the first value stays).
  // True when it was added.
  bool emplace(std::string_view key, V value) {
    bool fresh = false;
    V& v = slot_for(key, fresh);
    if (fresh) v = std::move(value);
    return fresh;
  }

  // The value of `key`, added (default-constructed) when missing. The reference lasts until
  // the next key is added.
  V& operator[](std::string_view key) {
    bool fresh = false;
    return slot_for(key, fresh);
  }

  const V* find(std::string_view key) const {
    if (size_ == 0) return nullptr;
    std::uint64_t h = string_hash(key);
    auto tag = static_cast<std::uint32_t>(h >> 32) | 1u;  // 0 marks an empty slot
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      const slot& s = slots_[i];
      if (s.tag == 0) return nullptr;
      if (s.tag == tag && s.length == key.size() &&
          std::memcmp(keys_.data() + s.offset, key.data(), key.size()) == 0) {
        return &s.value;
      }
    }
  }
  bool contains(std::string_view key) const { return find(key) != nullptr; }

  // Calls f(key, value) for every entry, in no particular order.
  template <class F>
  void for_each(F&& f) const {
    for (const slot& s : slots_) {
      if (s.tag != 0) f(std::string_view(keys_.data() + s.offset, s.length), s.value);
    }
  }

  std::size_t memory_bytes() const {
    return sizeof(*this) + slots_.capacity() * sizeof(slot) + keys_.capacity();
  }

 private:
  struct slot {
    std::uint32_t tag = 0;
    std::uint32_t length = 0;
    std::size_t offset = 0;
    V value{};
  };

  V& slot_for(std::string_view key, bool& fresh) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    std::uint64_t h = string_hash(key);
    auto tag = static_cast<std::uint32_t>(h >> 32) | 1u;
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      slot& s = slots_[i];
      if (s.tag == 0) {
        s.tag = tag;
        s.length = static_cast<std::uint32_t>(key.size());
        s.offset = keys_.size();
        keys_.append(key);
        ++size_;
        fresh = true;
        return s.value;
      }
      if (s.tag == tag && s.length == key.size() &&
          std::memcmp(keys_.data() + s.offset, key.data(), key.size()) == 0) {
        return s.value;
      }
    }
  }

  void grow() {
    std::vector<slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 16 : old.size() * 2, slot{});
    mask_ = slots_.size() - 1;
    for (slot& s : old) {
      if (s.tag == 0) continue;
      std::uint64_t h = string_hash(std::string_view(keys_.data() + s.offset, s.length));
      std::size_t i = h & mask_;
      while (slots_[i].tag != 0)
        i = (i + 1) & mask_;
      slots_[i] = std::move(s);
    }
  }

  std::vector<slot> slots_;
  std::string keys_;
  std::size_t size_ = 0;
  std::size_t mask_ = 0;
};

}  // namespace referrald::domain
