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
// for the merged stream.
//
// Payload: what is kept for a key besides its count (a value type with `void
// merge(const Payload&)`); a key taking an entry starts with a new one. Memory is the
// capacity's entries, their keys and their payloads, whatever arrives. One owner: not
// thread-safe.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace referrald::domain {

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

  // Counts `weight` more of `key`; the entry that now keeps it.
  entry& add(std::string_view key, std::uint64_t weight = 1) {
    if (auto it = index_.find(key); it != index_.end()) {
      entries_[it->second].count += weight;
      sift_down(pos_[it->second]);
      return entries_[it->second];
    }
    if (entries_.size() < capacity_) {
      auto i = static_cast<std::uint32_t>(entries_.size());
      entries_.push_back({std::string(key), weight, 0, Payload{}});
      index_.emplace(entries_.back().key, i);
      heap_.push_back(i);
      pos_.push_back(heap_.size() - 1);
      sift_up(heap_.size() - 1);
      return entries_[i];
    }
    // The least counted key gives its entry up.
    std::uint32_t i = heap_.front();
    entry& e = entries_[i];
    index_.erase(std::string_view(e.key));
    ++evictions_;
    e.key.assign(key);
    e.error = e.count;
    e.count += weight;
    e.data = Payload{};
    index_.emplace(e.key, i);
    sift_down(0);
    return e;
  }

  // Takes `other`'s counts in (see the top of the file).
  void merge(const heavy_hitters& other) {
    std::uint64_t mine = floor(), theirs = other.floor();
    std::vector<entry> all;
    all.reserve(entries_.size() + other.entries_.size());
    // The other's keys this one lacks first, while this one's index still views its keys.
    for (const auto& o : other.entries_) {
      if (index_.contains(std::string_view(o.key))) continue;
      all.push_back({o.key, o.count + mine, o.error + mine, o.data});
    }
    index_.clear();
    for (auto& e : entries_) {
      auto o = other.find(e.key);
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
    auto evicted = all.size() > capacity_ ? all.size() - capacity_ : 0;
    std::sort(all.begin(), all.end(), [](const entry& a, const entry& b) {
      return a.count != b.count ? a.count > b.count : a.key < b.key;
    });
    all.resize(std::min(all.size(), capacity_));
    evictions_ += other.evictions_ + evicted;
    rebuild(std::move(all));
  }

  // Any key not kept was counted at most this many times (0 while an entry is free).
  std::uint64_t floor() const { return full() ? entries_[heap_.front()].count : 0; }
  bool full() const { return entries_.size() >= capacity_; }
  std::size_t size() const { return entries_.size(); }
  std::size_t capacity() const { return capacity_; }
  // Keys forgotten to make room, since the summary was made (merges included).
  std::uint64_t evictions() const { return evictions_; }

  const entry* find(std::string_view key) const {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &entries_[it->second];
  }

  // The entries, most counted first (then by key).
  std::vector<const entry*> ranked() const {
    std::vector<const entry*> out;
    out.reserve(entries_.size());
    for (const auto& e : entries_)
      out.push_back(&e);
    std::sort(out.begin(), out.end(), [](const entry* a, const entry* b) {
      return a->count != b->count ? a->count > b->count : a->key < b->key;
    });
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
  struct key_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct key_equal {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const { return a == b; }
  };

  void rebuild(std::vector<entry> kept) {
    entries_.clear();
    for (auto& e : kept)
      entries_.push_back(std::move(e));
    index_.clear();
    heap_.clear();
    pos_.clear();
    for (std::uint32_t i = 0; i < entries_.size(); ++i) {
      index_.emplace(entries_[i].key, i);
      heap_.push_back(i);
      pos_.push_back(i);
    }
    for (std::size_t k = heap_.size() / 2; k-- > 0;)
      sift_down(k);
  }

  bool less(std::size_t a, std::size_t b) const {
    return entries_[heap_[a]].count < entries_[heap_[b]].count;
  }
  void swap_at(std::size_t a, std::size_t b) {
    std::swap(heap_[a], heap_[b]);
    pos_[heap_[a]] = a;
    pos_[heap_[b]] = b;
  }
  void sift_up(std::size_t k) {
    while (k > 0 && less(k, (k - 1) / 2)) {
      swap_at(k, (k - 1) / 2);
      k = (k - 1) / 2;
    }
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
  // A deque: an entry stays where it is while others are added (the index views its key).
  std::deque<entry> entries_;
  // A min-heap of entry indexes by count, and each entry's place in it.
  std::vector<std::uint32_t> heap_;
  std::vector<std::size_t> pos_;
  // Keys view the entries' own strings (an entry's key is replaced only after its view
  // left the index).
  std::unordered_map<std::string_view, std::uint32_t, key_hash, key_equal> index_;
  std::uint64_t evictions_ = 0;
};

}  // namespace referrald::domain
