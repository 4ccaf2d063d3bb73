#pragma once

// The most frequent keys of a stream in a fixed number of entries: Space-Saving (Metwally,
// Agrawal and El Abbadi, 2005). While an entry is free, a new key takes it and its count is
// exact. Once every entry is taken, a new key takes the entry of the least counted key,
// whose count it inherits as its possible overcount (`error`), and that key is forgotten
// (an eviction). Whatever the stream, an entry's true count lies in [count - error, count],
// every key seen more than floor() times is kept, and floor() is at most the total count
// divided by the capacity.
//
// Two summaries merge into one of the same capacity as mergeable summaries do (Agarwal et
// al., 2012): a key counts what each side counted, a side that does not keep it counting its
// floor() (as count and as error), and the most counted keys are kept. The bounds above hold
// for the merged stream, whatever the two capacities.
//
// Payload: what is kept for a key besides its count (a value type with `void
// merge(const Payload&)` and `void clear()`, which empties it and may keep its storage); a
// key taking an entry starts with an empty one. Memory is the capacity's entries, their keys
// and their payloads, whatever arrives.
//
// Counting is made to cost little on a thread that resolves: keys are found through an
// open-addressing table of entry numbers (linear probing, the key's hash kept beside each
// entry), a replaced key reuses its entry's storage (a full summary allocates nothing), and
// the least counted entry is tracked by a min-heap built only once the summary is full (while
// an entry is free, nothing is evicted and counting is a look-up and an increment). One
// owner: not thread-safe.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace referrald::domain {

// Whether two texts hold the same bytes, compared 8 at a time in the caller (the short
// texts counting compares — host names, channel names — cost less than a call of memcmp).
inline bool same_bytes(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  const char* p = a.data();
  const char* q = b.data();
  std::size_t n = a.size();
  for (; n >= 8; n -= 8, p += 8, q += 8) {
    std::uint64_t x = 0, y = 0;
    std::memcpy(&x, p, 8);
    std::memcpy(&y, q, 8);
    if (x != y) return false;
  }
  for (; n > 0; --n)
    if (*p++ != *q++) return false;
  return true;
}

template <class Payload>
class heavy_hitters {
 public:
  struct entry {
    std::string key;
    std::uint64_t count = 0;
    std::uint64_t error = 0;
    Payload data{};
  };

  explicit heavy_hitters(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

  // Counts `weight` more of `key`; the entry that now keeps it (valid until the next change).
  entry& add(std::string_view key, std::uint64_t weight = 1) {
    auto h = hash_of(key);
    if (auto i = lookup(key, h); i != k_none) {
      entries_[i].count += weight;
      if (!heap_.empty()) sift_down(pos_[i]);
      return entries_[i];
    }
    if (entries_.size() < capacity_) {
      auto i = static_cast<std::uint32_t>(entries_.size());
      entries_.push_back({std::string(key), weight, 0, Payload{}});
      hashes_.push_back(h);
      place(i);
      if (full()) build_heap();
      return entries_[i];
    }
    // The least counted key gives its entry up.
    std::uint32_t i = heap_.front();
    entry& e = entries_[i];
    unplace(i);
    ++evictions_;
    e.key.assign(key);
    e.error = e.count;
    e.count += weight;
    e.data.clear();
    hashes_[i] = h;
    place(i);
    sift_down(0);
    return e;
  }

  // Takes `other`'s counts in (see the top of the file).
  void merge(const heavy_hitters& other) {
    std::uint64_t mine = floor(), theirs = other.floor();
    std::vector<entry> all;
    all.reserve(entries_.size() + other.entries_.size());
    for (const auto& o : other.entries_) {
      if (find(o.key) != nullptr) continue;
      all.push_back({o.key, o.count + mine, o.error + mine, o.data});
    }
    for (auto& e : entries_) {
      const entry* o = other.find(e.key);
      entry m{std::move(e.key), e.count, e.error, std::move(e.data)};
      if (o != nullptr) {
        m.count += o->count;
        m.error += o->error;
        m.data.merge(o->data);
      } else {
        m.count += theirs;
        m.error += theirs;
      }
      all.push_back(std::move(m));
    }
    std::uint64_t evicted = 0;
    if (all.size() > capacity_) {
      evicted = all.size() - capacity_;
      std::nth_element(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(capacity_), all.end(),
                       more_counted);
      all.resize(capacity_);
    }
    evictions_ += other.evictions_ + evicted;
    rebuild(std::move(all));
  }

  // Any key not kept was counted at most this many times (0 while an entry is free).
  std::uint64_t floor() const { return heap_.empty() ? 0 : entries_[heap_.front()].count; }
  bool full() const { return entries_.size() >= capacity_; }
  std::size_t size() const { return entries_.size(); }
  std::size_t capacity() const { return capacity_; }
  // Keys forgotten to make room, since the summary was made (merges included).
  std::uint64_t evictions() const { return evictions_; }

  const entry* find(std::string_view key) const {
    auto i = lookup(key, hash_of(key));
    return i == k_none ? nullptr : &entries_[i];
  }

  // The entries, most counted first (then by key).
  std::vector<const entry*> ranked() const {
    std::vector<const entry*> out;
    out.reserve(entries_.size());
    for (const auto& e : entries_)
      out.push_back(&e);
    std::sort(out.begin(), out.end(),
              [](const entry* a, const entry* b) { return more_counted(*a, *b); });
    return out;
  }

  // Replaces the summary with `kept` (at most capacity() entries) and `evictions`; for a
  // summary read back from storage.
  void restore(std::vector<entry> kept, std::uint64_t evictions) {
    if (kept.size() > capacity_) kept.resize(capacity_);
    evictions_ = evictions;
    rebuild(std::move(kept));
  }

 private:
  static constexpr std::uint32_t k_none = 0xffffffffu;

  static bool more_counted(const entry& a, const entry& b) {
    return a.count != b.count ? a.count > b.count : a.key < b.key;
  }
  static std::uint64_t hash_of(std::string_view key) { return std::hash<std::string_view>{}(key); }

  // The table: slots of entry number + 1 (0: free), a power of two at least twice the
  // entries, grown as they come, up to twice the capacity.
  std::size_t mask() const { return slots_.size() - 1; }

  std::uint32_t lookup(std::string_view key, std::uint64_t h) const {
    if (slots_.empty()) return k_none;
    for (std::size_t k = h & mask();; k = (k + 1) & mask()) {
      auto s = slots_[k];
      if (s == 0) return k_none;
      if (hashes_[s - 1] == h && same_bytes(entries_[s - 1].key, key)) return s - 1;
    }
  }

  // Puts entry i (already in entries_) in the table.
  void place(std::uint32_t i) {
    if (entries_.size() * 2 > slots_.size()) return reindex(slots_.size() * 2);
    std::size_t k = hashes_[i] & mask();
    while (slots_[k] != 0)
      k = (k + 1) & mask();
    slots_[k] = i + 1;
  }

  // Takes entry i out of the table, moving the entries after it in its run back so that
  // each stays reachable from its home slot (deletion without tombstones).
  void unplace(std::uint32_t i) {
    std::size_t k = hashes_[i] & mask();
    while (slots_[k] != i + 1)
      k = (k + 1) & mask();
    for (std::size_t j = k;;) {
      slots_[k] = 0;
      for (;;) {
        j = (j + 1) & mask();
        if (slots_[j] == 0) return;
        std::size_t home = hashes_[slots_[j] - 1] & mask();
        bool stays = k <= j ? (k < home && home <= j) : (k < home || home <= j);
        if (!stays) break;
      }
      slots_[k] = slots_[j];
      k = j;
    }
  }

  // A table of at least `size` slots (and twice the entries) holding every entry.
  void reindex(std::size_t size) {
    size = std::max<std::size_t>(size, 16);
    while (size < entries_.size() * 2)
      size *= 2;
    slots_.assign(size, 0);
    for (std::uint32_t i = 0; i < entries_.size(); ++i) {
      std::size_t k = hashes_[i] & mask();
      while (slots_[k] != 0)
        k = (k + 1) & mask();
      slots_[k] = i + 1;
    }
  }

  void rebuild(std::vector<entry> kept) {
    entries_ = std::move(kept);
    hashes_.clear();
    for (const auto& e : entries_)
      hashes_.push_back(hash_of(e.key));
    reindex(0);
    heap_.clear();
    pos_.clear();
    if (full()) build_heap();
  }

  void build_heap() {
    heap_.resize(entries_.size());
    pos_.resize(entries_.size());
    for (std::uint32_t i = 0; i < entries_.size(); ++i) {
      heap_[i] = i;
      pos_[i] = i;
    }
    for (std::size_t k = heap_.size() / 2; k-- > 0;)
      sift_down(k);
  }

  bool less(std::size_t a, std::size_t b) const {
    return entries_[heap_[a]].count < entries_[heap_[b]].count;
  }
  void swap_at(std::size_t a, std::size_t b) {
    std::swap(heap_[a], heap_[b]);
    pos_[heap_[a]] = static_cast<std::uint32_t>(a);
    pos_[heap_[b]] = static_cast<std::uint32_t>(b);
  }
  void sift_down(std::size_t k) {
    for (;;) {
      std::size_t l = 2 * k + 1, r = l + 1, least = k;
      if (l < heap_.size() && less(l, least)) least = l;
      if (r < heap_.size() && less(r, least)) least = r;
      if (least == k) return;
      swap_at(k, least);
      k = least;
    }
  }

  std::size_t capacity_;
  std::vector<entry> entries_;
  std::vector<std::uint64_t> hashes_;  // each entry's key's
  std::vector<std::uint32_t> slots_;
  // Once full: a min-heap of entry numbers by count, and each entry's place in it.
  std::vector<std::uint32_t> heap_;
  std::vector<std::uint32_t> pos_;
  std::uint64_t evictions_ = 0;
};

}  // namespace referrald::domain
