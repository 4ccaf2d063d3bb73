// In-process lookups per second of the mapping index on one core, for an account with
// 10,000 mappings (100 regex, 1,000 contains, 1,000 ends_with, 1,000 starts_with, 6,900
// exact), on a mix of realistic referrer hosts; side by side with the naive scan (every
// active rule in priority order, first match wins). Also reports build time and memory,
// and the same lookups once 400 mappings changed since the full build (the most an
// account of this size layers before it rebuilds in full) with the cost of that layer.
//
//   bench_engine [SECONDS_PER_RUN=3]

#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "domain/match/mapping_index.hpp"
#include "domain/rules/account_state.hpp"
#include "domain/web/host.hpp"

using namespace referrald::domain;
using clock_type = std::chrono::steady_clock;

namespace {

const char* k_words[] = {"shop",  "store",  "partner", "travel", "hotel", "book",  "pay",
                         "media", "news",   "blog",    "portal", "cloud", "app",   "secure",
                         "deals", "market", "global",  "north",  "tech",  "vendor"};
const char* k_tlds[] = {"com", "net", "org", "io", "de", "co.uk", "fr", "es"};

std::string word(std::mt19937& rng) { return k_words[rng() % std::size(k_words)]; }
std::string tld(std::mt19937& rng) { return k_tlds[rng() % std::size(k_tlds)]; }

// A generated site name that is unlikely to collide: word + number.
std::string site(std::mt19937& rng) { return word(rng) + std::to_string(rng() % 100000); }

// Heap bytes in use, including large blocks glibc serves with mmap.
std::size_t heap_in_use() {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

struct built {
  account_state state{"bench"};
  std::vector<std::string> exact_hosts, suffix_hosts, contains_words;
};

// Folds the next event of `s`, which records mapping `m` after a change of `type`.
void fold(account_state& s, event_type type, const referrer_mapping& m) {
  event e;
  e.seq = s.seq() + 1;
  e.prev_hash = s.head_hash();
  e.type = type;
  e.entity_id = m.id;
  e.object = encode_object(m);
  if (!s.apply(e)) std::abort();
}

void add(account_state& s, std::int64_t id, match_type type, const std::string& raw,
         std::int64_t priority) {
  auto n = normalize_pattern(raw, type);
  if (!n || s.mappings().with_key(n->pattern)) return;
  referrer_mapping m;
  m.id = id;
  m.referrer_pattern = n->pattern;
  m.match_type = type;
  m.regex = n->regex;
  m.utm_source = "src" + std::to_string(id);
  m.label = "Rule " + std::to_string(id);
  m.priority = priority;
  fold(s, event_type::referrer_mapping_created, m);
}

// A new priority for mapping `id`, as a PATCH would record it.
void reprioritize(account_state& s, std::int64_t id, std::int64_t priority) {
  referrer_mapping m = *s.mappings().find(id);
  m.priority = priority;
  fold(s, event_type::referrer_mapping_updated, m);
}

// The first active rule in rank order that matches, or nullptr.
const referrer_mapping* scan(const std::vector<const referrer_mapping*>& ranked,
                             const std::string& host) {
  for (const auto* m : ranked) {
    if (m->matches(host)) return m;
  }
  return nullptr;
}

void build(built& b, std::mt19937& rng) {
  std::int64_t id = 0;
  auto prio = [&] {
    return static_cast<std::int64_t>(rng() % 1001);
  };
  for (int i = 0; i < 100; ++i) {
    std::string p = i % 2 ? "^" + word(rng) + "[0-9]{2,4}\\." + site(rng) + "\\."
                          : "(^|\\.)" + site(rng) + "-(eu|us|asia)\\." + tld(rng) + "$";
    add(b.state, ++id, match_type::regex, p, prio());
  }
  for (int i = 0; i < 1000; ++i) {
    std::string w = site(rng);
    b.contains_words.push_back(w);
    add(b.state, ++id, match_type::contains, w, prio());
  }
  for (int i = 0; i < 1000; ++i) {
    std::string h = site(rng) + "." + tld(rng);
    b.suffix_hosts.push_back(h);
    add(b.state, ++id, match_type::ends_with, h, prio());
  }
  for (int i = 0; i < 1000; ++i) {
    add(b.state, ++id, match_type::starts_with, site(rng) + "." + word(rng), prio());
  }
  while (b.state.mappings().size() < 10000) {
    std::string h = site(rng) + "." + tld(rng);
    b.exact_hosts.push_back(h);
    add(b.state, ++id, match_type::exact, h, prio());
  }
}

// 50% hosts no rule knows (search engines, social networks, news), 20% exact, 10% a
// subdomain of an ends_with rule, 10% containing a contains word, 10% random sites.
std::vector<std::string> hosts(const built& b, std::mt19937& rng) {
  const char* popular[] = {"google.com",
                           "bing.com",
                           "duckduckgo.com",
                           "facebook.com",
                           "t.co",
                           "l.instagram.com",
                           "news.ycombinator.com",
                           "reddit.com",
                           "linkedin.com",
                           "youtube.com",
                           "yahoo.com",
                           "baidu.com",
                           "chatgpt.com",
                           "perplexity.ai",
                           "en.wikipedia.org",
                           "mail.google.com",
                           "outlook.live.com",
                           "github.com"};
  std::vector<std::string> out;
  for (int i = 0; i < 100000; ++i) {
    int r = static_cast<int>(rng() % 10);
    std::string h;
    if (r < 5) {
      h = popular[rng() % std::size(popular)];
    } else if (r < 7) {
      h = b.exact_hosts[rng() % b.exact_hosts.size()];
    } else if (r < 8) {
      h = word(rng) + "." + b.suffix_hosts[rng() % b.suffix_hosts.size()];
    } else if (r < 9) {
      h = "www2." + b.contains_words[rng() % b.contains_words.size()] + "-x." + tld(rng);
    } else {
      h = site(rng) + "." + site(rng) + "." + tld(rng);
    }
    out.push_back(*normalize_host(h, idna_mode::browser));
  }
  return out;
}

struct run_result {
  double per_second;
  double matched_share;
};

template <class Fn>
run_result rate(const std::vector<std::string>& hs, double seconds, Fn&& lookup) {
  std::size_t n = 0;
  std::size_t hits = 0;
  auto start = clock_type::now();
  auto deadline = start + std::chrono::duration<double>(seconds);
  while (clock_type::now() < deadline) {
    for (std::size_t i = 0; i < 1000; ++i, ++n) {
      if (lookup(hs[n % hs.size()]) != nullptr) ++hits;
    }
  }
  double elapsed = std::chrono::duration<double>(clock_type::now() - start).count();
  return {static_cast<double>(n) / elapsed, static_cast<double>(hits) / static_cast<double>(n)};
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  std::mt19937 rng(42);
  std::size_t heap0 = heap_in_use();
  built b;
  build(b, rng);
  std::size_t heap_state = heap_in_use();
  auto t0 = clock_type::now();
  b.state.refresh_indexes();
  double build_ms = std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
  std::size_t heap_index = heap_in_use();
  const mapping_index& idx = *b.state.mappings_index();
  auto hs = hosts(b, rng);

  // The naive scan: the same rules in rank order, each tried in turn.
  std::vector<const referrer_mapping*> naive = idx.ranked();

  // Both must agree before anything is timed.
  for (std::size_t i = 0; i < 20000; ++i) {
    if (idx.best(hs[i]) != scan(naive, hs[i])) {
      std::fprintf(stderr, "index and naive scan disagree on %s\n", hs[i].c_str());
      return 1;
    }
  }

  auto fast_run = rate(hs, seconds, [&](const std::string& h) { return idx.best(h); });
  auto slow_run = rate(hs, seconds, [&](const std::string& h) { return scan(naive, h); });

  // 400 mappings change (new priorities): they are layered over the full build.
  // Each change is folded and re-indexed as an account actor does after a write: the
  // index is kept per change, so one costs O(log n), not a rebuild.
  account_state changed = b.state;
  int changes = 0;
  auto t1 = clock_type::now();
  for (int i = 0; i < 400; ++i) {
    auto id = static_cast<std::int64_t>(1 + rng() % 10000);
    if (changed.mappings().find(id) == nullptr) continue;
    reprioritize(changed, id, static_cast<std::int64_t>(rng() % 1001));
    changed.refresh_indexes(account_state::index_refresh::layered);
    ++changes;
  }
  double change_ms = std::chrono::duration<double, std::milli>(clock_type::now() - t1).count() /
                     std::max(1, changes);
  const mapping_index& layered = *changed.mappings_index();
  auto naive_now = mapping_index::build(changed.mappings())->ranked();
  for (std::size_t i = 0; i < 20000; ++i) {
    if (layered.best(hs[i]) != scan(naive_now, hs[i])) {
      std::fprintf(stderr, "layered index and naive scan disagree on %s\n", hs[i].c_str());
      return 1;
    }
  }
  auto layered_run = rate(hs, seconds, [&](const std::string& h) { return layered.best(h); });
  double fast = fast_run.per_second;
  double slow = slow_run.per_second;

  std::printf(
      "rules: %zu active mappings (100 regex, 1000 contains, 1000 ends_with, 1000 "
      "starts_with, rest exact)\n",
      idx.size());
  std::printf("hosts: %zu samples cycled through, %.0f%% matched by some rule\n", hs.size(),
              100.0 * fast_run.matched_share);
  std::printf("index build: %.1f ms\n", build_ms);
  std::printf("index lookups: %.0f per second on one core (%.0f ns each)\n", fast, 1e9 / fast);
  std::printf("naive scan:    %.0f per second on one core (%.0f ns each)\n", slow, 1e9 / slow);
  std::printf("speed-up: %.0fx\n", fast / slow);
  std::printf(
      "one change folded and re-indexed: %.1f us (1/%.0f of a full build)\n"
      "layered: %zu mappings changed since the full build; %.0f lookups per second (%.0f ns "
      "each, %.2fx the full build's rate)\n",
      1000.0 * change_ms, build_ms / change_ms, layered.layered(), layered_run.per_second,
      1e9 / layered_run.per_second, layered_run.per_second / fast);
  std::printf(
      "memory: mappings %.1f MiB (API JSON made on first read), index %.1f MiB (heap delta; index "
      "estimate %.1f MiB)\n",
      static_cast<double>(heap_state - heap0) / 1048576.0,
      static_cast<double>(heap_index - heap_state) / 1048576.0,
      static_cast<double>(idx.memory_bytes()) / 1048576.0);
  return 0;
}
