#include "domain/match/mapping_index.hpp"

#include <algorithm>

#include "domain/base/text.hpp"

namespace referrald::domain {

namespace {

constexpr std::uint32_t k_none = string_automaton::none;

// The rank order: higher priority first, then lower id.
bool ranks_before(const referrer_mapping& a, const referrer_mapping& b) {
  if (a.priority != b.priority) return a.priority > b.priority;
  return a.id < b.id;
}

const referrer_mapping* better(const referrer_mapping* a, const referrer_mapping* b) {
  if (a == nullptr) return b;
  if (b == nullptr) return a;
  return ranks_before(*b, *a) ? b : a;
}

bool contains_id(const std::vector<std::int64_t>& sorted, std::int64_t id) {
  return std::binary_search(sorted.begin(), sorted.end(), id);
}

}  // namespace

std::shared_ptr<const mapping_index> mapping_index::build(const collection<referrer_mapping>& c) {
  std::vector<entity_ref<referrer_mapping>> rules;
  rules.reserve(c.active_count());
  for (auto [id, e] : c.items()) {
    if (e->value.is_active) rules.push_back(e);
  }
  return build_rules(std::move(rules));
}

std::shared_ptr<const mapping_index> mapping_index::layer(std::shared_ptr<const mapping_index> full,
                                                          const std::vector<std::int64_t>& changed,
                                                          const collection<referrer_mapping>& now) {
  std::vector<entity_ref<referrer_mapping>> rules;
  for (auto id : changed) {
    const auto* e = now.find_entity(id);
    if (e != nullptr && (*e)->value.is_active) rules.push_back(*e);
  }
  auto idx = build_rules(std::move(rules));
  std::size_t hidden_in_full = 0;
  for (auto id : changed)
    hidden_in_full += contains_id(full->ids_, id) ? 1 : 0;
  idx->size_ = idx->rules_.size() + full->size_ - hidden_in_full;
  idx->hidden_ = changed;
  idx->full_ = std::move(full);
  return idx;
}

std::shared_ptr<mapping_index> mapping_index::build_rules(
    std::vector<entity_ref<referrer_mapping>> rules) {
  auto idx = std::make_shared<mapping_index>();
  idx->ids_.reserve(rules.size());
  for (const auto& e : rules)
    idx->ids_.push_back(e->value.id);
  std::sort(idx->ids_.begin(), idx->ids_.end());
  idx->rules_ = std::move(rules);
  idx->size_ = idx->rules_.size();
  std::stable_sort(idx->rules_.begin(), idx->rules_.end(),
                   [](const auto& a, const auto& b) { return ranks_before(a->value, b->value); });
  std::vector<std::pair<std::string, std::uint32_t>> prefixes, substrings, literals;
  for (std::uint32_t rank = 0; rank < idx->rules_.size(); ++rank) {
    const referrer_mapping& m = idx->rules_[rank]->value;
    switch (m.match_type) {
      case match_type::exact:
        idx->exact_.emplace(m.referrer_pattern, rank);
        break;
      case match_type::ends_with:
        idx->suffix_.emplace(m.referrer_pattern, rank);
        break;
      case match_type::starts_with:
        prefixes.emplace_back(m.referrer_pattern, rank);
        break;
      case match_type::contains:
        substrings.emplace_back(m.referrer_pattern, rank);
        break;
      case match_type::regex: {
        if (!m.regex) break;  // cannot happen for a decoded mapping; never matches
        auto n = static_cast<std::uint32_t>(idx->regexes_.size());
        idx->regexes_.push_back({rank, m.regex.get()});
        if (const auto& lit = m.regex->required_literal()) {
          literals.emplace_back(*lit, n);
        } else {
          idx->unfiltered_.push_back(n);
        }
        break;
      }
    }
  }
  idx->prefix_ = string_automaton(prefixes, string_automaton::mode::prefix);
  idx->contains_ = string_automaton(substrings, string_automaton::mode::substring);
  idx->literals_ = string_automaton(literals, string_automaton::mode::substring);
  return idx;
}

std::uint32_t mapping_index::best_plain(std::string_view host) const {
  std::uint32_t best = k_none;
  if (!exact_.empty()) {
    if (auto it = exact_.find(host); it != exact_.end()) best = it->second;
  }
  if (!suffix_.empty()) {
    // The host itself and every suffix starting after a '.': label boundaries only.
    std::size_t pos = 0;
    for (;;) {
      if (auto it = suffix_.find(host.substr(pos)); it != suffix_.end()) {
        best = std::min(best, it->second);
      }
      pos = host.find('.', pos);
      if (pos == std::string_view::npos) break;
      ++pos;
    }
  }
  best = std::min(best, prefix_.min_value(host));
  best = std::min(best, contains_.min_value(host));
  return best;
}

void mapping_index::all_plain(std::string_view host, std::vector<std::uint32_t>& out) const {
  if (auto it = exact_.find(host); it != exact_.end()) out.push_back(it->second);
  std::size_t pos = 0;
  for (;;) {
    if (auto it = suffix_.find(host.substr(pos)); it != suffix_.end()) out.push_back(it->second);
    pos = host.find('.', pos);
    if (pos == std::string_view::npos) break;
    ++pos;
  }
  prefix_.all_values(host, out);
  contains_.all_values(host, out);
}

void mapping_index::regex_candidates(std::string_view host, std::vector<std::uint32_t>& out) const {
  out.clear();
  if (!is_ascii(host)) {
    // The literal prefilter assumes an ASCII subject; try every regex otherwise.
    for (std::uint32_t i = 0; i < regexes_.size(); ++i)
      out.push_back(i);
    return;
  }
  literals_.all_values(host, out);
  out.insert(out.end(), unfiltered_.begin(), unfiltered_.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
}

bool mapping_index::is_hidden(std::uint32_t rank, const std::vector<std::int64_t>& hidden) const {
  return !hidden.empty() && contains_id(hidden, rules_[rank]->value.id);
}

const referrer_mapping* mapping_index::own_best(std::string_view host, regex_budget* budget,
                                                const std::vector<std::int64_t>& hidden) const {
  std::uint32_t best = best_plain(host);
  if (best != k_none && is_hidden(best, hidden)) {
    // The best plain match changed since this build: the best of the others.
    best = k_none;
    thread_local std::vector<std::uint32_t> plain;
    plain.clear();
    all_plain(host, plain);
    for (auto rank : plain) {
      if (rank < best && !is_hidden(rank, hidden)) best = rank;
    }
  }
  if (!regexes_.empty() && regexes_.front().rank < best) {
    thread_local std::vector<std::uint32_t> candidates;
    regex_candidates(host, candidates);
    for (std::size_t k = 0; k < candidates.size(); ++k) {
      const regex_rule& r = regexes_[candidates[k]];
      if (r.rank >= best) break;  // in rank order: nothing later can win
      if (is_hidden(r.rank, hidden)) continue;
      if (budget != nullptr && !budget->allows()) {
        budget->skipped = candidates.size() - k;
        break;
      }
      if (r.re->matches(host)) {
        best = r.rank;
        break;
      }
    }
  }
  return best == k_none ? nullptr : &rules_[best]->value;
}

void mapping_index::own_all(std::string_view host, regex_budget* budget,
                            const std::vector<std::int64_t>& hidden,
                            std::vector<const referrer_mapping*>& out) const {
  std::vector<std::uint32_t> ranks;
  all_plain(host, ranks);
  std::vector<std::uint32_t> candidates;
  regex_candidates(host, candidates);
  for (std::size_t k = 0; k < candidates.size(); ++k) {
    const regex_rule& r = regexes_[candidates[k]];
    if (is_hidden(r.rank, hidden)) continue;
    if (budget != nullptr && !budget->allows()) {
      budget->skipped = candidates.size() - k;
      break;
    }
    if (r.re->matches(host)) ranks.push_back(r.rank);
  }
  std::sort(ranks.begin(), ranks.end());
  ranks.erase(std::unique(ranks.begin(), ranks.end()), ranks.end());
  for (auto rank : ranks) {
    if (!is_hidden(rank, hidden)) out.push_back(&rules_[rank]->value);
  }
}

const referrer_mapping* mapping_index::best(std::string_view host, regex_budget* budget) const {
  static const std::vector<std::int64_t> none;
  const referrer_mapping* own = own_best(host, budget, none);
  if (!full_) return own;
  return better(own, full_->own_best(host, budget, hidden_));
}

std::vector<const referrer_mapping*> mapping_index::all(std::string_view host,
                                                        regex_budget* budget) const {
  std::vector<const referrer_mapping*> out;
  own_all(host, budget, {}, out);
  if (full_) {
    full_->own_all(host, budget, hidden_, out);
    std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return ranks_before(*a, *b); });
  }
  return out;
}

std::vector<const referrer_mapping*> mapping_index::ranked() const {
  std::vector<const referrer_mapping*> out;
  out.reserve(size_);
  for (const auto& e : rules_)
    out.push_back(&e->value);
  if (full_) {
    for (std::uint32_t rank = 0; rank < full_->rules_.size(); ++rank) {
      if (!full_->is_hidden(rank, hidden_)) out.push_back(&full_->rules_[rank]->value);
    }
    std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return ranks_before(*a, *b); });
  }
  return out;
}

std::size_t mapping_index::memory_bytes() const {
  auto table_bytes = [](const table& t) {
    return t.bucket_count() * sizeof(void*) +
           t.size() * (sizeof(table::value_type) + 2 * sizeof(void*));
  };
  return (full_ ? full_->memory_bytes() : 0) + sizeof(*this) +
         (hidden_.capacity() + ids_.capacity()) * sizeof(std::int64_t) +
         rules_.capacity() * sizeof(rules_[0]) + table_bytes(exact_) + table_bytes(suffix_) +
         prefix_.memory_bytes() + contains_.memory_bytes() + literals_.memory_bytes() +
         regexes_.capacity() * sizeof(regex_rule) + unfiltered_.capacity() * sizeof(std::uint32_t);
}

}  // namespace referrald::domain
