#include "domain/mapping_index.hpp"

#include <algorithm>

#include "domain/text.hpp"

namespace referrald::domain {

namespace {

constexpr std::uint32_t k_none = string_automaton::none;

}  // namespace

std::shared_ptr<const mapping_index> mapping_index::build(const collection<referrer_mapping>& c) {
  auto idx = std::make_shared<mapping_index>();
  for (auto [id, e] : c.items()) {
    if (e->value.is_active) idx->rules_.push_back(e);
  }
  std::stable_sort(idx->rules_.begin(), idx->rules_.end(), [](const auto& a, const auto& b) {
    if (a->value.priority != b->value.priority) return a->value.priority > b->value.priority;
    return a->value.id < b->value.id;
  });
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

const referrer_mapping* mapping_index::best(std::string_view host, regex_budget* budget) const {
  std::uint32_t best = best_plain(host);
  if (!regexes_.empty() && regexes_.front().rank < best) {
    thread_local std::vector<std::uint32_t> candidates;
    regex_candidates(host, candidates);
    for (std::size_t k = 0; k < candidates.size(); ++k) {
      const regex_rule& r = regexes_[candidates[k]];
      if (r.rank >= best) break;  // in rank order: nothing later can win
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

std::vector<const referrer_mapping*> mapping_index::all(std::string_view host,
                                                        regex_budget* budget) const {
  std::vector<std::uint32_t> ranks;
  all_plain(host, ranks);
  std::vector<std::uint32_t> candidates;
  regex_candidates(host, candidates);
  for (std::size_t k = 0; k < candidates.size(); ++k) {
    if (budget != nullptr && !budget->allows()) {
      budget->skipped = candidates.size() - k;
      break;
    }
    if (regexes_[candidates[k]].re->matches(host)) ranks.push_back(regexes_[candidates[k]].rank);
  }
  std::sort(ranks.begin(), ranks.end());
  ranks.erase(std::unique(ranks.begin(), ranks.end()), ranks.end());
  std::vector<const referrer_mapping*> out;
  out.reserve(ranks.size());
  for (auto r : ranks)
    out.push_back(&rules_[r]->value);
  return out;
}

std::size_t mapping_index::memory_bytes() const {
  auto table_bytes = [](const table& t) {
    return t.bucket_count() * sizeof(void*) +
           t.size() * (sizeof(table::value_type) + 2 * sizeof(void*));
  };
  return sizeof(*this) + rules_.capacity() * sizeof(rules_[0]) + table_bytes(exact_) +
         table_bytes(suffix_) + prefix_.memory_bytes() + contains_.memory_bytes() +
         literals_.memory_bytes() + regexes_.capacity() * sizeof(regex_rule) +
         unfiltered_.capacity() * sizeof(std::uint32_t);
}

}  // namespace referrald::domain
