#pragma once

// The compiled matching index of an account's active referrer mappings: "which active
// mapping applies to this (normalized) host, and which others also match?"
//
// Rules are ranked once: higher priority first, then lower id. Each match type has its
// own structure, none of which scans every rule:
//   exact        hash table: pattern -> rank
//   ends_with    hash table, probed with the host and each of its label suffixes
//   starts_with  prefix trie (string_automaton, prefix mode)
//   contains     Aho-Corasick (string_automaton, substring mode)
//   regex        evaluated last, in rank order, and only those that could still win;
//                a regex with a required literal is only tried when an Aho-Corasick
//                prefilter finds that literal in the host
// The winner is the lowest rank among all matches.
//
// Layers: a full build costs O(rules). So that one change does not cost that much, an
// account's index is a full build with the mappings changed since it layered over it
// (over(), domain/match/mapping_changes.hpp, kept per change at O(log n)): the full
// build's answers for those mappings are hidden, and the two answers are merged by rank.
// The account rebuilds in full, off its actor, once the changes grow
// (account_state::full_index_build_due()).
//
// Immutable once built (built off the lookup path, when mappings change); one index may
// be used from any number of threads. It keeps the mappings it refers to alive.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "domain/base/string_table.hpp"
#include "domain/base/text.hpp"
#include "domain/match/automaton.hpp"
#include "domain/match/mapping_changes.hpp"
#include "domain/match/regex.hpp"
#include "domain/rules/account_state.hpp"
#include "domain/rules/mapping.hpp"

namespace referrald::domain {

class mapping_index {
 public:
  static std::shared_ptr<const mapping_index> build(const collection<referrer_mapping>& c);

  // `full` (a build()) with `changes` layered over it; `active` is the number of active
  // mappings in all. O(1): the changes are shared, not copied.
  static std::shared_ptr<const mapping_index> over(std::shared_ptr<const mapping_index> full,
                                                   const mapping_changes& changes,
                                                   std::size_t active);

  // The active mapping that applies to `host`, or nullptr. Regexes run within `budget`
  // (a fresh one per visit) when one is given.
  const referrer_mapping* best(std::string_view host, regex_budget* budget = nullptr) const;

  // best() in two steps, for a caller that keeps the first across versions of the rules:
  // the plain answer (every match type but regex) of the full build this index answers
  // from, which depends on nothing but that build and the host, and which build_id() names
  // (a number no other build of the process is given); then this index's answer from it.
  // best(host, budget) == best(host, budget, build_plain(host)).
  std::uint64_t build_id() const { return full_ ? full_->build_id_ : build_id_; }
  std::uint32_t build_plain(std::string_view host) const {
    return full_ ? full_->best_plain(host) : best_plain(host);
  }
  const referrer_mapping* best(std::string_view host, regex_budget* budget,
                               std::uint32_t build_plain) const;

  // Every active mapping that matches `host`, the winner first, then in rank order.
  std::vector<const referrer_mapping*> all(std::string_view host,
                                           regex_budget* budget = nullptr) const;

  // Active rules.
  std::size_t size() const { return size_; }

  // Active rules in rank order (the order a naive priority scan would try them). O(rules).
  std::vector<const referrer_mapping*> ranked() const;

  // Mappings changed since the full build this index layers over (0: it is one).
  std::size_t layered() const { return full_ ? changes_->hidden.size() : 0; }

  // Approximate bytes held by the index itself (not the mappings it shares).
  std::size_t memory_bytes() const;

 private:
  using table = string_table<std::uint32_t>;
  struct regex_rule {
    std::uint32_t rank;
    const compiled_regex* re;
  };

  static std::shared_ptr<mapping_index> build_rules(
      std::vector<entity_ref<referrer_mapping>> rules);

  using hidden_ids = persistent_map<std::int64_t, bool>;
  // This index's own answers, leaving out the rules `hidden` names (null: none); `plain`
  // is best_plain(host).
  const referrer_mapping* own_best(std::string_view host, regex_budget* budget,
                                   const hidden_ids* hidden, std::uint32_t plain) const;
  void own_all(std::string_view host, regex_budget* budget, const hidden_ids* hidden,
               std::vector<const referrer_mapping*>& out) const;
  bool is_hidden(std::uint32_t rank, const hidden_ids* hidden) const;
  // The changed mappings (of a layered index) that match `host`, into `out`; with
  // `best_only`, just the best of them.
  void changed_matching(std::string_view host, regex_budget* budget, bool best_only,
                        std::vector<const referrer_mapping*>& out) const;

  // Ranks of non-regex matches (into `out`), and the best of them.
  std::uint32_t best_plain(std::string_view host) const;
  void all_plain(std::string_view host, std::vector<std::uint32_t>& out) const;
  // Indexes into regexes_ worth trying for `host`, ascending (so in rank order).
  void regex_candidates(std::string_view host, std::vector<std::uint32_t>& out) const;

  std::uint64_t build_id_ = 0;                      // a full build's (build_rules)
  std::shared_ptr<const mapping_index> full_;       // the build this one layers over, if any
  std::shared_ptr<const mapping_changes> changes_;  // what is layered over full_
  // The changed contains rules in rank order, found through an automaton built by over()
  // (O(changed contains) per publish, few), and the changed regex rules in rank order.
  std::vector<const referrer_mapping*> changed_contains_;
  string_automaton changed_contains_automaton_;
  std::vector<const referrer_mapping*> changed_regexes_;
  std::vector<std::int64_t> ids_;                    // ids of rules_, ascending
  std::size_t size_ = 0;                             // active rules, both layers
  std::vector<entity_ref<referrer_mapping>> rules_;  // by rank
  table exact_;
  table suffix_;
  string_automaton prefix_;
  string_automaton contains_;
  std::vector<regex_rule> regexes_;        // by rank
  string_automaton literals_;              // required literal -> index into regexes_
  std::vector<std::uint32_t> unfiltered_;  // regexes_ without a literal
};

}  // namespace referrald::domain
