#include "domain/attribution/referrer_facts.hpp"

#include <cstring>
#include <utility>
#include <vector>

#include "domain/base/string_table.hpp"
#include "domain/match/mapping_index.hpp"
#include "domain/rules/settings.hpp"

namespace referrald::domain {

namespace {

// Each table holds 2 * k_sets entries in sets of two: a host is found in its set or takes
// the place of the one used less recently.
constexpr std::size_t k_sets = 8192;  // a power of two

// A table of 2 * k_sets entries in sets of two, and which entry of each set was used last.
template <class T>
struct two_way {
  std::vector<T> entries = std::vector<T>(2 * k_sets);
  std::vector<std::uint8_t> last = std::vector<std::uint8_t>(k_sets);

  // The entry of the set of `hash` that `same` accepts; else the other one than the last
  // used, reset by `fresh`.
  template <class Same, class Fresh>
  T& find_or_take(std::uint64_t hash, Same&& same, Fresh&& fresh) {
    const std::size_t set = hash & (k_sets - 1);
    for (std::uint8_t i = 0; i < 2; ++i) {
      T& e = entries[set * 2 + i];
      if (same(e)) {
        last[set] = i;
        return e;
      }
    }
    const auto victim = static_cast<std::uint8_t>(1 - last[set]);
    last[set] = victim;
    T& e = entries[set * 2 + victim];
    fresh(e);
    return e;
  }
};

}  // namespace

void referrer_facts::kept_host::keep(std::uint64_t h, std::string_view host) {
  hash = h;
  size = static_cast<std::uint8_t>(host.size());
  std::memcpy(bytes, host.data(), host.size());
}

referrer_facts::listed referrer_facts::lists_of(std::string_view host) {
  const auto& ai_list = ai_platform_list::builtin();
  const auto& known_list = known_referrer_list::builtin();
  return {ai_list.has_paths(host), known_list.has_paths(host), ai_list.lookup_host(host),
          known_list.lookup_host(host)};
}

referrer_facts& referrer_facts::of(const account_state& s, std::string_view host) {
  // Visits resolved against a different version of the rules nearly every time (a log
  // resolved at each visit's own time) would only fill the rules' table: over each window of
  // k_window visits, when the version changed for most of them, the next window does without
  // it (the lists' table still serves).
  constexpr unsigned k_window = 256;
  struct tables {
    two_way<referrer_facts> rules;
    two_way<listed_entry> lists;
    referrer_facts unkept;
    std::uint64_t last_version = 0;
    unsigned seen = 0, changes = 0;
    bool bypass = false;
  };
  thread_local tables t;
  auto& [rules, lists, unkept, last_version, seen, changes, bypass] = t;
  const std::uint64_t version = s.version();
  changes += version != last_version ? 1 : 0;
  last_version = version;
  if (++seen == k_window) {
    bypass = changes > k_window / 2;
    seen = changes = 0;
  }
  const std::uint64_t h = string_hash(host);
  auto lists_of_host = [&]() -> const listed& {
    if (host.size() > k_kept_host) {
      thread_local listed once;
      once = lists_of(host);
      return once;
    }
    return lists
        .find_or_take(
            h, [&](const listed_entry& x) { return x.host.is(h, host); },
            [&](listed_entry& x) {
              x.host.keep(h, host);
              x.facts = lists_of(host);
            })
        .facts;
  };
  if (bypass || host.size() > k_kept_host) {
    unkept.version_ = 0;  // never a version's
    unkept.state_ = &s;
    unkept.known_bits_ = 0;
    unkept.lists_ = lists_of_host();
    unkept.host_ = host;
    return unkept;
  }
  referrer_facts& f = rules.find_or_take(
      h ^ (version * 0x9E3779B97F4A7C15ull),
      [&](const referrer_facts& e) {
        return e.version_ == version && e.hash_ == h && e.state_ == &s && e.key_.is(h, host);
      },
      [&](referrer_facts& e) {
        e.version_ = version;
        e.hash_ = h;
        e.state_ = &s;
        e.key_.keep(h, host);
        e.known_bits_ = 0;
        // The lists' answers of a host seen under another version of the rules are kept.
        e.lists_ = lists_of_host();
      });
  f.host_ = host;
  return f;
}

const passthrough_referrer* referrer_facts::passthrough() {
  if ((known_bits_ & has_passthrough) == 0) {
    passthrough_ = state_->covering_referrer(host_);
    known_bits_ |= has_passthrough;
  }
  return passthrough_;
}

const referrer_mapping* referrer_facts::mapping(regex_budget& budget) {
  if ((known_bits_ & has_mapping) != 0) return mapping_;
  const auto& index = state_->mappings_index();
  if (!index) return nullptr;
  const std::uint64_t searches = budget.searches();
  const referrer_mapping* m = index->best(host_, &budget);
  // A lookup that searched no regex answers the same for every visit; one that did
  // spent this visit's budget, and is made again for the next.
  if (budget.searches() == searches) {
    mapping_ = m;
    known_bits_ |= has_mapping;
  }
  return m;
}

bool referrer_facts::own() {
  if ((known_bits_ & has_own) == 0) {
    const account_settings* settings = state_->settings();
    own_ = settings != nullptr && settings->is_own(host_);
    known_bits_ |= has_own;
  }
  return own_;
}

const ai_platform* referrer_facts::ai(std::string_view raw) {
  if (lists_.ai_paths || ai_platform_list::raw_decides(raw)) {
    return ai_platform_list::builtin().lookup(raw, host_);
  }
  return lists_.ai;
}

const known_referrer* referrer_facts::known(std::string_view path) {
  if (lists_.known_paths) return known_referrer_list::builtin().lookup_parsed(host_, path);
  return lists_.known;
}

}  // namespace referrald::domain
