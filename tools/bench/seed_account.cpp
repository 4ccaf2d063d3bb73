// Benchmark set-up: writes one account's rules straight into a data directory through
// the event log (10,000 referrer mappings — 100 regex, 1,000 contains, 1,000 ends_with,
// 1,000 starts_with, the rest exact — and 1,000 passthrough referrers), then writes
// request bodies for the resolve benchmarks: a batch of 10,000 visits and one visit.
//
//   bench_seed_account DATA_DIR ACCOUNT OUT_DIR
//
// OUT_DIR receives batch.json ({"visits":[...]}) and visit.json (one visit).

#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "domain/rules/account_state.hpp"
#include "store/event_log.hpp"

using namespace referrald;
using namespace referrald::domain;

namespace {

const char* k_words[] = {"shop",  "store",  "partner", "travel", "hotel", "book",  "pay",
                         "media", "news",   "blog",    "portal", "cloud", "app",   "secure",
                         "deals", "market", "global",  "north",  "tech",  "vendor"};
const char* k_tlds[] = {"com", "net", "org", "io", "de", "co.uk", "fr", "es"};

std::string word(std::mt19937& rng) { return k_words[rng() % std::size(k_words)]; }
std::string tld(std::mt19937& rng) { return k_tlds[rng() % std::size(k_tlds)]; }
std::string site(std::mt19937& rng) { return word(rng) + std::to_string(rng() % 100000); }

struct writer {
  store::db& db;
  store::event_log log;
  account_state state;
  store::write_batch batch;

  template <class T>
  void add(T value) {
    value.id = state.entities<T>().next_id();
    value.created_at = value.updated_at = now_ms();
    event e;
    e.seq = state.seq() + 1;
    e.prev_hash = state.head_hash();
    e.timestamp = value.created_at;
    e.type = kind_traits<T>::created;
    e.entity_id = value.id;
    e.object = encode_object(value);
    log.append(batch, state.account_id(), e);
    if (!state.apply(e)) std::abort();
    if (batch.size() >= 1000) flush();
  }
  void flush() {
    if (batch.empty()) return;
    if (!db.write(batch, true)) std::abort();
    batch = store::write_batch{};
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: bench_seed_account DATA_DIR ACCOUNT OUT_DIR\n");
    return 2;
  }
  auto opened = store::db::open({argv[1], false});
  if (!opened) {
    std::fprintf(stderr, "%s\n", opened.err().message.c_str());
    return 1;
  }
  std::string account = argv[2];
  writer w{**opened, store::event_log(**opened), account_state(account), {}};
  if (*w.log.head(account) != 0) {
    std::fprintf(stderr, "account %s already has events\n", account.c_str());
    return 1;
  }
  std::mt19937 rng(7);
  std::vector<std::string> exact_hosts, suffix_hosts, contains_words, passthrough_domains;

  auto mapping = [&](match_type t, const std::string& raw) {
    auto n = normalize_pattern(raw, t);
    if (!n || w.state.mappings().with_key(n->pattern)) return false;
    referrer_mapping m;
    m.referrer_pattern = n->pattern;
    m.match_type = t;
    m.regex = n->regex;
    m.utm_source = "src-" + n->pattern.substr(0, 20);
    m.utm_campaign = "campaign";
    m.label = "Benchmark rule";
    m.priority = static_cast<std::int64_t>(rng() % 1001);
    w.add(std::move(m));
    return true;
  };
  for (int i = 0; i < 100; ++i) {
    mapping(match_type::regex, i % 2 ? "^" + word(rng) + "[0-9]{2,4}\\." + site(rng) + "\\."
                                     : "(^|\\.)" + site(rng) + "-(eu|us|asia)\\." + tld(rng) + "$");
  }
  for (int i = 0; i < 1000;) {
    std::string s = site(rng);
    if (mapping(match_type::contains, s)) {
      contains_words.push_back(s);
      ++i;
    }
  }
  for (int i = 0; i < 1000;) {
    std::string h = site(rng) + "." + tld(rng);
    if (mapping(match_type::ends_with, h)) {
      suffix_hosts.push_back(h);
      ++i;
    }
  }
  for (int i = 0; i < 1000;) {
    if (mapping(match_type::starts_with, site(rng) + "." + word(rng))) ++i;
  }
  while (w.state.mappings().size() < 10000) {
    std::string h = site(rng) + "." + tld(rng);
    if (mapping(match_type::exact, h)) exact_hosts.push_back(h);
  }
  while (w.state.referrers().size() < 1000) {
    std::string d = "pay" + std::to_string(rng() % 1000000) + "." + tld(rng);
    if (w.state.referrers().with_key(d)) continue;
    passthrough_referrer r;
    r.domain = d;
    r.utm_source = "engine";
    r.service_name = "Booking engine";
    passthrough_domains.push_back(d);
    w.add(std::move(r));
  }
  w.flush();

  // Visits: 30% mapping hits, 10% passthrough (half with a session), 10% AI assistants,
  // 20% other referrals, 10% direct, 10% utm-tagged, 10% internal.
  const char* ai[] = {"https://chatgpt.com/", "https://www.perplexity.ai/search",
                      "https://claude.ai/", "https://gemini.google.com/app",
                      "https://x.com/i/grok"};
  const char* other[] = {"https://www.google.com/", "https://www.facebook.com/", "https://t.co/x",
                         "https://news.ycombinator.com/item", "https://www.bing.com/search"};
  auto visit = [&](int i) {
    std::string landing = "https://hotel.example/rooms/" + std::to_string(i % 50);
    std::string referrer;
    std::string session = "null";
    int r = static_cast<int>(rng() % 10);
    if (r < 3) {
      int k = static_cast<int>(rng() % 3);
      referrer = "https://" +
                 (k == 0   ? exact_hosts[rng() % exact_hosts.size()]
                  : k == 1 ? "www." + word(rng) + "." + suffix_hosts[rng() % suffix_hosts.size()]
                           : "my-" + contains_words[rng() % contains_words.size()] + ".net") +
                 "/page";
    } else if (r < 4) {
      referrer =
          "https://secure." + passthrough_domains[rng() % passthrough_domains.size()] + "/pay";
      if (rng() % 2)
        session = R"({"utm_source":"google","utm_medium":"cpc","utm_campaign":"brand"})";
    } else if (r < 5) {
      referrer = ai[rng() % std::size(ai)];
    } else if (r < 7) {
      referrer = other[rng() % std::size(other)];
    } else if (r < 8) {
      referrer = "";
    } else if (r < 9) {
      landing += "?utm_source=newsletter&utm_medium=email&utm_campaign=nov";
      referrer = "https://mail.example.com/";
    } else {
      referrer = "https://www.hotel.example/search";
    }
    return R"({"referrer":")" + referrer + R"(","landing_url":")" + landing + R"(","session":)" +
           session + "}";
  };
  std::string out_dir = argv[3];
  std::ofstream batch(out_dir + "/batch.json");
  batch << R"({"visits":[)";
  for (int i = 0; i < 10000; ++i)
    batch << (i ? "," : "") << visit(i);
  batch << "]}";
  std::ofstream one(out_dir + "/visit.json");
  one << R"({"referrer":"https://www.)" << word(rng) << "." << suffix_hosts.front()
      << R"(/page","landing_url":"https://hotel.example/rooms/1","session":null})";
  std::printf("seeded account %s: %zu mappings, %zu passthrough referrers, %llu events\n",
              account.c_str(), w.state.mappings().size(), w.state.referrers().size(),
              static_cast<unsigned long long>(w.state.seq()));
  return 0;
}
