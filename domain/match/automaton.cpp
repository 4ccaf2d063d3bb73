#include "domain/match/automaton.hpp"

#include <algorithm>
#include <deque>

namespace referrald::domain {

string_automaton::string_automaton(
    const std::vector<std::pair<std::string, std::uint32_t>>& strings, mode m)
    : mode_(m) {
  // Byte classes: class 0 is "in no string".
  for (const auto& [s, v] : strings) {
    for (unsigned char c : s) {
      if (class_of_[c] == 0) class_of_[c] = static_cast<std::uint8_t>(classes_++);
    }
  }
  // Trie (goto function) with values at string ends.
  std::vector<std::vector<std::uint32_t>> node_values(1);
  std::vector<std::uint32_t> trie(classes_, dead);
  for (const auto& [s, v] : strings) {
    if (s.empty()) continue;
    std::uint32_t node = 0;
    for (unsigned char c : s) {
      std::size_t slot = static_cast<std::size_t>(node) * classes_ + class_of_[c];
      if (trie[slot] == dead) {
        trie[slot] = static_cast<std::uint32_t>(node_values.size());
        node_values.emplace_back();
        trie.resize(trie.size() + classes_, dead);
      }
      node = trie[slot];
    }
    node_values[node].push_back(v);
  }
  node_count_ = static_cast<std::uint32_t>(node_values.size());

  out_begin_.resize(node_count_ + 1);
  for (std::uint32_t n = 0; n < node_count_; ++n) {
    out_begin_[n] = static_cast<std::uint32_t>(out_values_.size());
    out_values_.insert(out_values_.end(), node_values[n].begin(), node_values[n].end());
  }
  out_begin_[node_count_] = static_cast<std::uint32_t>(out_values_.size());
  min_out_.assign(node_count_, none);
  for (std::uint32_t n = 0; n < node_count_; ++n) {
    for (auto v : node_values[n])
      min_out_[n] = std::min(min_out_[n], v);
  }
  dict_link_.assign(node_count_, dead);

  if (mode_ == mode::prefix) {
    next_ = std::move(trie);
    return;
  }

  // Aho-Corasick: breadth-first, fold failure transitions into the table.
  next_ = trie;
  std::vector<std::uint32_t> fail(node_count_, 0);
  std::deque<std::uint32_t> queue;
  for (std::uint32_t c = 0; c < classes_; ++c) {
    std::uint32_t child = trie[c];
    if (child == dead) {
      next_[c] = 0;
    } else {
      fail[child] = 0;
      queue.push_back(child);
    }
  }
  while (!queue.empty()) {
    std::uint32_t node = queue.front();
    queue.pop_front();
    std::uint32_t f = fail[node];
    // Values reachable through the failure chain.
    min_out_[node] = std::min(min_out_[node], min_out_[f]);
    dict_link_[node] = out_begin_[f] != out_begin_[f + 1] ? f : dict_link_[f];
    for (std::uint32_t c = 0; c < classes_; ++c) {
      std::size_t slot = static_cast<std::size_t>(node) * classes_ + c;
      std::uint32_t child = trie[slot];
      if (child == dead) {
        next_[slot] = next_[static_cast<std::size_t>(f) * classes_ + c];
      } else {
        fail[child] = next_[static_cast<std::size_t>(f) * classes_ + c];
        queue.push_back(child);
      }
    }
  }
}

std::uint32_t string_automaton::min_value(std::string_view s) const {
  if (node_count_ <= 1) return none;
  std::uint32_t best = none;
  std::uint32_t node = 0;
  if (mode_ == mode::prefix) {
    for (unsigned char c : s) {
      node = step(node, c);
      if (node == dead) break;
      best = std::min(best, min_out_[node]);
    }
    return best;
  }
  for (unsigned char c : s) {
    node = step(node, c);
    best = std::min(best, min_out_[node]);
  }
  return best;
}

void string_automaton::report(std::uint32_t node, std::vector<std::uint32_t>& out) const {
  for (std::uint32_t i = out_begin_[node]; i < out_begin_[node + 1]; ++i) {
    out.push_back(out_values_[i]);
  }
}

void string_automaton::all_values(std::string_view s, std::vector<std::uint32_t>& out) const {
  if (node_count_ <= 1) return;
  std::uint32_t node = 0;
  if (mode_ == mode::prefix) {
    for (unsigned char c : s) {
      node = step(node, c);
      if (node == dead) return;
      report(node, out);
    }
    return;
  }
  for (unsigned char c : s) {
    node = step(node, c);
    if (min_out_[node] == none) continue;
    for (std::uint32_t n = node; n != dead && n != 0; n = dict_link_[n])
      report(n, out);
  }
}

std::size_t string_automaton::memory_bytes() const {
  return sizeof(*this) + (next_.capacity() + min_out_.capacity() + out_begin_.capacity() +
                          out_values_.capacity() + dict_link_.capacity()) *
                             sizeof(std::uint32_t);
}

}  // namespace referrald::domain
