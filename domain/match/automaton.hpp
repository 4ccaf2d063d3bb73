#pragma once

// A set of byte strings compiled into a dense automaton, each string carrying a value.
// Two modes:
//  - prefix: reports the strings that are prefixes of a subject (a trie walked from the
//    subject's first byte until it falls off);
//  - substring: reports the strings occurring anywhere in a subject (Aho-Corasick, with
//    failure transitions folded into a full transition table).
// Bytes are mapped to classes first: each byte occurring in some string has its own
// class, all others share a class that no string uses, so the table stays small
// (nodes × distinct bytes) and matching stays exact.
//
// Immutable after build; safe to use from many threads.

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace referrald::domain {

class string_automaton {
 public:
  static constexpr std::uint32_t none = std::numeric_limits<std::uint32_t>::max();

  enum class mode { prefix, substring };

  string_automaton() = default;
  // Strings may repeat (each occurrence keeps its value); empty strings are ignored.
  string_automaton(const std::vector<std::pair<std::string, std::uint32_t>>& strings, mode m);

  bool empty() const { return node_count_ <= 1; }

  // The smallest value of the strings found in `s`, or `none`.
  std::uint32_t min_value(std::string_view s) const;

  // Appends the values of every string found in `s` (a string found twice is reported
  // once per value; order unspecified).
  void all_values(std::string_view s, std::vector<std::uint32_t>& out) const;

  std::size_t memory_bytes() const;

 private:
  static constexpr std::uint32_t dead = std::numeric_limits<std::uint32_t>::max();

  std::uint32_t step(std::uint32_t node, unsigned char byte) const {
    return next_[static_cast<std::size_t>(node) * classes_ + class_of_[byte]];
  }
  void report(std::uint32_t node, std::vector<std::uint32_t>& out) const;

  mode mode_ = mode::substring;
  std::array<std::uint8_t, 256> class_of_{};
  std::uint32_t classes_ = 1;
  std::uint32_t node_count_ = 0;
  std::vector<std::uint32_t> next_;       // node * classes + class -> node (or dead)
  std::vector<std::uint32_t> min_out_;    // smallest value reported at a node (incl. links)
  std::vector<std::uint32_t> out_begin_;  // values ending exactly at a node: [begin, end)
  std::vector<std::uint32_t> out_values_;
  std::vector<std::uint32_t> dict_link_;  // next node on the failure chain with values
};

}  // namespace referrald::domain
