#include "domain/match/mapping_index.hpp"

#include <algorithm>
#include <atomic>

#include "domain/base/text.hpp"

namespace referrald::domain {

namespace {

constexpr std::uint32_t k_none = string_automaton::none;

// The rank order: higher priority first, then lower id.
bool ranks_before(const referrer_mapping& a, const referrer_mapping& b) {
  if (a.priority != b.priority) return a.priority > b.priority;
  return a.id < b.id;
}

// A regex mapping's search: within `budget` when there is one (a visit's), else under the
// match limit alone.
bool matches(const compiled_regex& re, std::string_view host, regex_budget* budget,
             std::int64_t id) {
  if (budget == nullptr) return re.matches(host);
  return regex_budget::matched(budget->match(re, host, {"mapping", id}));
}

const referrer_mapping* better(const referrer_mapping* a, const referrer_mapping* b) {
  if (a == nullptr) return b;
  if (b == nullptr) return a;
  return ranks_before(*b, *a) ? b : a;
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

std::shared_ptr<const mapping_index> mapping_index::over(std::shared_ptr<const mapping_index> full,
                                                         const mapping_changes& changes,
                                                         std::size_t active) {
  auto idx = std::make_shared<mapping_index>();
  idx->full_ = std::move(full);
  idx->changes_ = std::make_shared<const mapping_changes>(changes);
  idx->size_ = active;
  for (auto [id, e] : changes.scanned) {
    const referrer_mapping& m = e->value;
    (m.match_type == match_type::contains ? idx->changed_contains_ : idx->changed_regexes_)
        .push_back(&m);
  }
  auto by_rank = [](auto* a, auto* b) {
    return ranks_before(*a, *b);
  };
  std::sort(idx->changed_contains_.begin(), idx->changed_contains_.end(), by_rank);
  std::sort(idx->changed_regexes_.begin(), idx->changed_regexes_.end(), by_rank);
  std::vector<std::pair<std::string, std::uint32_t>> words;
  for (std::uint32_t i = 0; i < idx->changed_contains_.size(); ++i)
    words.emplace_back(idx->changed_contains_[i]->referrer_pattern, i);
  idx->changed_contains_automaton_ = string_automaton(words, string_automaton::mode::substring);
  return idx;
}

void mapping_changes::change(std::int64_t id, const entity_ref<referrer_mapping>* before,
                             const entity_ref<referrer_mapping>* now) {
  auto drop = [id](auto& map, const std::string& key) {
    const auto* held = map.find(key);
    if (held != nullptr && (*held)->value.id == id) map = map.erase(key);
  };
  if (hidden.find(id) != nullptr && before != nullptr && *before && (*before)->value.is_active) {
    const referrer_mapping& m = (*before)->value;
    switch (m.match_type) {
      case match_type::exact:
        drop(exact, m.referrer_pattern);
        break;
      case match_type::ends_with:
        drop(suffix, m.referrer_pattern);
        break;
      case match_type::starts_with: {
        const auto* held = prefix.find(m.referrer_pattern);
        if (held != nullptr && (*held)->value.id == id) {
          prefix = prefix.erase(m.referrer_pattern);
          std::size_t len = m.referrer_pattern.size();
          std::size_t n = *prefix_lengths.find(len);
          prefix_lengths = n > 1 ? prefix_lengths.set(len, n - 1) : prefix_lengths.erase(len);
        }
        break;
      }
      case match_type::contains:
      case match_type::regex:
        scanned = scanned.erase(id);
        break;
    }
    --active;
  }
  hidden.put(id, true);
  if (now == nullptr || !*now || !(*now)->value.is_active) return;
  const referrer_mapping& m = (*now)->value;
  switch (m.match_type) {
    case match_type::exact:
      exact.put(m.referrer_pattern, *now);
      break;
    case match_type::ends_with:
      suffix.put(m.referrer_pattern, *now);
      break;
    case match_type::starts_with: {
      prefix.put(m.referrer_pattern, *now);
      const auto* n = prefix_lengths.find(m.referrer_pattern.size());
      prefix_lengths.put(m.referrer_pattern.size(), n == nullptr ? 1 : *n + 1);
      break;
    }
    case match_type::contains:
    case match_type::regex:
      scanned.put(id, *now);
      break;
  }
  ++active;
}

std::shared_ptr<mapping_index> mapping_index::build_rules(
    std::vector<entity_ref<referrer_mapping>> rules) {
  static std::atomic<std::uint64_t> builds{0};
  auto idx = std::make_shared<mapping_index>();
  idx->build_id_ = ++builds;
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
    if (const auto* rank = exact_.find(host)) best = *rank;
  }
  if (!suffix_.empty()) {
    // The host itself and every suffix starting after a '.': label boundaries only.
    std::size_t pos = 0;
    for (;;) {
      if (const auto* rank = suffix_.find(host.substr(pos))) best = std::min(best, *rank);
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
  if (const auto* rank = exact_.find(host)) out.push_back(*rank);
  std::size_t pos = 0;
  for (;;) {
    if (const auto* rank = suffix_.find(host.substr(pos))) out.push_back(*rank);
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

bool mapping_index::is_hidden(std::uint32_t rank, const hidden_ids* hidden) const {
  return hidden != nullptr && hidden->find(rules_[rank]->value.id) != nullptr;
}

const referrer_mapping* mapping_index::own_best(std::string_view host, regex_budget* budget,
                                                const hidden_ids* hidden,
                                                std::uint32_t plain) const {
  std::uint32_t best = plain;
  if (best != k_none && is_hidden(best, hidden)) {
    // The best plain match changed since this build: the best of the others.
    best = k_none;
    thread_local std::vector<std::uint32_t> found;
    found.clear();
    all_plain(host, found);
    for (auto rank : found) {
      if (rank < best && !is_hidden(rank, hidden)) best = rank;
    }
  }
  if (!regexes_.empty() && regexes_.front().rank < best) {
    thread_local std::vector<std::uint32_t> candidates;
    regex_candidates(host, candidates);
    for (auto i : candidates) {
      const regex_rule& r = regexes_[i];
      if (r.rank >= best) break;  // in rank order: nothing later can win
      if (is_hidden(r.rank, hidden)) continue;
      if (matches(*r.re, host, budget, rules_[r.rank]->value.id)) {
        best = r.rank;
        break;
      }
    }
  }
  return best == k_none ? nullptr : &rules_[best]->value;
}

void mapping_index::own_all(std::string_view host, regex_budget* budget, const hidden_ids* hidden,
                            std::vector<const referrer_mapping*>& out) const {
  std::vector<std::uint32_t> ranks;
  all_plain(host, ranks);
  std::vector<std::uint32_t> candidates;
  regex_candidates(host, candidates);
  for (auto i : candidates) {
    const regex_rule& r = regexes_[i];
    if (is_hidden(r.rank, hidden)) continue;
    if (matches(*r.re, host, budget, rules_[r.rank]->value.id)) ranks.push_back(r.rank);
  }
  std::sort(ranks.begin(), ranks.end());
  ranks.erase(std::unique(ranks.begin(), ranks.end()), ranks.end());
  for (auto rank : ranks) {
    if (!is_hidden(rank, hidden)) out.push_back(&rules_[rank]->value);
  }
}

void mapping_index::changed_matching(std::string_view host, regex_budget* budget, bool best_only,
                                     std::vector<const referrer_mapping*>& out) const {
  const mapping_changes& ch = *changes_;
  const referrer_mapping* best = nullptr;
  auto take = [&](const referrer_mapping& m) {
    if (best_only && best != nullptr && !ranks_before(m, *best)) return;
    out.push_back(&m);
    best = &m;
  };
  if (const auto* e = ch.exact.find(host)) take((*e)->value);
  for (std::size_t pos = 0;;) {
    if (const auto* e = ch.suffix.find(host.substr(pos))) take((*e)->value);
    pos = host.find('.', pos);
    if (pos == std::string_view::npos) break;
    ++pos;
  }
  for (auto [len, count] : ch.prefix_lengths) {
    if (len > host.size()) break;
    if (const auto* e = ch.prefix.find(host.substr(0, len))) take((*e)->value);
  }
  if (!changed_contains_.empty()) {
    if (best_only) {
      auto first = changed_contains_automaton_.min_value(host);
      if (first != k_none) take(*changed_contains_[first]);
    } else {
      thread_local std::vector<std::uint32_t> found;
      found.clear();
      changed_contains_automaton_.all_values(host, found);
      std::sort(found.begin(), found.end());  // a word found twice in the host counts once
      found.erase(std::unique(found.begin(), found.end()), found.end());
      for (auto i : found)
        take(*changed_contains_[i]);
    }
  }
  for (const referrer_mapping* changed : changed_regexes_) {
    const referrer_mapping& m = *changed;
    if (best_only && best != nullptr && !ranks_before(m, *best)) break;  // rank order
    if (m.regex != nullptr && matches(*m.regex, host, budget, m.id)) take(m);
  }
  if (!best_only) return;
  out.clear();
  if (best != nullptr) out.push_back(best);
}

const referrer_mapping* mapping_index::best(std::string_view host, regex_budget* budget) const {
  return best(host, budget, build_plain(host));
}

const referrer_mapping* mapping_index::best(std::string_view host, regex_budget* budget,
                                            std::uint32_t build_plain) const {
  if (!full_) return own_best(host, budget, nullptr, build_plain);
  thread_local std::vector<const referrer_mapping*> changed;
  changed.clear();
  changed_matching(host, budget, true, changed);
  return better(changed.empty() ? nullptr : changed.front(),
                full_->own_best(host, budget, &changes_->hidden, build_plain));
}

std::vector<const referrer_mapping*> mapping_index::all(std::string_view host,
                                                        regex_budget* budget) const {
  std::vector<const referrer_mapping*> out;
  if (!full_) {
    own_all(host, budget, nullptr, out);
    return out;
  }
  changed_matching(host, budget, false, out);
  full_->own_all(host, budget, &changes_->hidden, out);
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return ranks_before(*a, *b); });
  return out;
}

std::vector<const referrer_mapping*> mapping_index::ranked() const {
  std::vector<const referrer_mapping*> out;
  out.reserve(size_);
  if (!full_) {
    for (const auto& e : rules_)
      out.push_back(&e->value);
    return out;
  }
  for (std::uint32_t rank = 0; rank < full_->rules_.size(); ++rank) {
    if (!full_->is_hidden(rank, &changes_->hidden)) out.push_back(&full_->rules_[rank]->value);
  }
  for (const auto* map : {&changes_->exact, &changes_->suffix, &changes_->prefix}) {
    for (auto [key, e] : *map)
      out.push_back(&e->value);
  }
  for (auto [id, e] : changes_->scanned)
    out.push_back(&e->value);
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return ranks_before(*a, *b); });
  return out;
}

std::size_t mapping_index::memory_bytes() const {
  return (full_ ? full_->memory_bytes() : 0) + sizeof(*this) +
         ids_.capacity() * sizeof(std::int64_t) + rules_.capacity() * sizeof(rules_[0]) +
         exact_.memory_bytes() + suffix_.memory_bytes() + prefix_.memory_bytes() +
         contains_.memory_bytes() + literals_.memory_bytes() +
         regexes_.capacity() * sizeof(regex_rule) + unfiltered_.capacity() * sizeof(std::uint32_t);
}

}  // namespace referrald::domain
