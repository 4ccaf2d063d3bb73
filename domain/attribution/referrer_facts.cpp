#include "domain/attribution/referrer_facts.hpp"

#include <cstring>
#include <utility>
#include <vector>

#include "domain/base/string_table.hpp"
#include "domain/match/mapping_index.hpp"
#include "domain/rules/settings.hpp"

namespace referrald::domain {

namespace {

// A table of 2 * Sets entries in sets of two (Sets a power of two): a key is found in its set
// or takes the place of the one used less recently.
template <class T, std::size_t Sets>
struct two_way {
  static_assert((Sets & (Sets - 1)) == 0);
  std::vector<T> entries = std::vector<T>(2 * Sets);
  std::vector<std::uint8_t> last = std::vector<std::uint8_t>(Sets);

  // The entry of the set of `hash` that `same` accepts; else the other one than the last
  // used, reset by `fresh`.
  template <class Same, class Fresh>
  T& find_or_take(std::uint64_t hash, Same&& same, Fresh&& fresh) {
    const std::size_t set = hash & (Sets - 1);
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

constexpr std::uint64_t k_mix = 0x9E3779B97F4A7C15ull;

// A full mapping build's plain answer for a host of the lists' table (named by its entry's
// place and generation, so never another host's).
struct build_plain_entry {
  std::uint64_t build = 0;  // mapping_index::build_id(); 0: none
  std::uint32_t slot = 0, generation = 0;
  std::uint32_t plain = 0;
};

}  // namespace

struct referrer_facts::tables {
  two_way<referrer_facts, 8192> rules;
  two_way<listed_entry, 8192> lists;
  two_way<build_plain_entry, 32768> plain;
  referrer_facts unkept;
  std::uint64_t last_version = 0;
  unsigned seen = 0, changes = 0;
  bool bypass = false;
};

referrer_facts::tables& referrer_facts::per_thread() {
  thread_local tables t;
  return t;
}

void referrer_facts::kept_host::keep(std::uint64_t h, std::string_view host) {
  hash = h;
  size = static_cast<std::uint8_t>(host.size());
  if (!host.empty()) std::memcpy(bytes, host.data(), host.size());  // may be null when empty
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
  tables& t = per_thread();
  auto& [rules, lists_kept, plain, unkept, last_version, seen, changes, bypass] = t;
  // A reference of its own: a lambda below uses it, and clang before 16 captures no binding.
  auto& lists = lists_kept;
  const std::uint64_t version = s.version();
  changes += version != last_version ? 1 : 0;
  last_version = version;
  if (++seen == k_window) {
    bypass = changes > k_window / 2;
    seen = changes = 0;
  }
  const std::uint64_t h = string_hash(host);
  // The lists' answers (and where they are kept) into `f`.
  auto take_lists = [&](referrer_facts& f) {
    if (host.size() > k_kept_host) {
      f.lists_ = lists_of(host);
      f.listed_ = {};
      return;
    }
    listed_entry& e = lists.find_or_take(
        h, [&](const listed_entry& x) { return x.host.is(h, host); },
        [&](listed_entry& x) {
          x.host.keep(h, host);
          x.facts = lists_of(host);
          ++x.generation;
        });
    f.lists_ = e.facts;
    f.listed_ = {static_cast<std::uint32_t>(&e - lists.entries.data()), e.generation};
  };
  if (bypass || host.size() > k_kept_host) {
    unkept.version_ = 0;  // never a version's
    unkept.state_ = &s;
    unkept.known_bits_ = 0;
    take_lists(unkept);
    unkept.host_ = host;
    return unkept;
  }
  referrer_facts& f = rules.find_or_take(
      h ^ (version * k_mix),
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
        take_lists(e);
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
  std::uint32_t plain;
  if (listed_.slot == k_no_slot) {
    plain = index->build_plain(host_);
  } else {
    const std::uint64_t build = index->build_id();
    const listed_slot at = listed_;
    plain = per_thread()
                .plain
                .find_or_take((build * k_mix) ^ (std::uint64_t{at.slot} << 1) ^
                                  (std::uint64_t{at.generation} << 15),
                              [&](const build_plain_entry& e) {
                                return e.build == build && e.slot == at.slot &&
                                       e.generation == at.generation;
                              },
                              [&](build_plain_entry& e) {
                                e = {build, at.slot, at.generation, index->build_plain(host_)};
                              })
                .plain;
  }
  const std::uint64_t searches = budget.searches();
  const referrer_mapping* m = index->best(host_, &budget, plain);
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
