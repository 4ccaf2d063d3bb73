// How fast a resolve-batch body ({"visits":[...]}) is read as JSON on one core: our one-pass
// scanner (domain/base/json_scan.hpp) side by side with simdjson's On-Demand API on the same
// body, then each reader's whole way to a domain::visit (URLs parsed by read_visit), to show
// what share of the whole the JSON reading is.
//
//   bench_json_readers BATCH_JSON [ITERATIONS=300]
//
// BATCH_JSON is bench_seed_account's batch.json. Every variant reads every visit's referrer,
// landing_url and session utm_* strings and gives up, as the batch handler's fast path does,
// on any body that is not a plain batch (then the strict parser would read it). Variants:
//
//   json  scan             scan_member_array, the visit's members, the session's scan_object:
//                          strings as written between their quotes, with `escaped`
//   json  simdjson raw     On-Demand, each object's fields iterated once: strings as written
//                          (raw_json_token between its quotes), escaped when it holds '\'
//   json  simdjson string  the same with unescaped_key() and get_string(): strings unescaped
//                          into the parser's buffer, so an escaped string needs no fallback
//   visit scan             scan_member_array, read_visit_members
//   visit simdjson raw     "simdjson raw", then read_visit on its strings
//
// The readers do not promise the same thing: scan_member_array says true only for a body the
// strict parser (parse_json) accepts, while On-Demand checks UTF-8 and unescaped control
// characters in the whole body but not the syntax of values it skips.
//
// Each variant runs ITERATIONS times in ten rounds, the variants taking turns in each round;
// buffers and the simdjson parser are reused across iterations, and the body is copied once,
// untimed, into simdjson's padded buffer. simdjson finds the structure of the body (stage 1)
// with the best implementation the CPU runs, chosen at run time; the On-Demand iteration is
// compiled into this program for the instruction set the compiler targets: "fallback" for
// plain x86-64, "haswell" with -march=haswell. Both are printed.

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/attribution/resolver.hpp"
#include "domain/base/json_scan.hpp"

using namespace referrald::domain;
namespace od = simdjson::ondemand;
using clock_type = std::chrono::steady_clock;

#define JSON_READERS_QUOTE(x) #x
#define JSON_READERS_NAME(x) JSON_READERS_QUOTE(x)

namespace {

constexpr std::size_t k_batch_max = 10000;  // the batch handler's limit

// In utm_values' order (domain/attribution/visit.hpp).
constexpr std::string_view k_session_names[] = {"utm_source", "utm_medium", "utm_campaign",
                                                "utm_term", "utm_content"};

// The strings of one visit as a reader found them: views into the body (or, for
// get_string, into the parser's buffer) that live until the next visit is read.
struct found_visit {
  bool has_referrer = false;  // false: absent or null
  std::string_view referrer;
  std::string_view landing_url;
  bool has_session = false;  // false: absent or null
  std::array<std::optional<std::string_view>, 5> session;
};

// What the readers of JSON alone hand on: a sum over every string read, the same for every
// reader of the same body.
std::size_t digest(const found_visit& v) {
  std::size_t d = v.referrer.size() + v.landing_url.size() + (v.has_session ? 1 : 0);
  for (const auto& s : v.session)
    d += s ? s->size() + 1 : 0;
  return d;
}

// Which of k_session_names `key` is; std::size(k_session_names) for none.
std::size_t session_slot(std::string_view key) {
  return static_cast<std::size_t>(
      std::find(std::begin(k_session_names), std::end(k_session_names), key) -
      std::begin(k_session_names));
}

// The members of one visit object that make the visit; false when one is repeated or has an
// escaped name, or there is any other member.
struct visit_members {
  const json_member* referrer = nullptr;
  const json_member* landing_url = nullptr;
  const json_member* session = nullptr;
};
bool find_visit_members(std::span<const json_member> members, visit_members& out) {
  out = {};
  for (const auto& m : members) {
    const json_member** slot = m.key == "referrer"      ? &out.referrer
                               : m.key == "landing_url" ? &out.landing_url
                               : m.key == "session"     ? &out.session
                                                        : nullptr;
    if (m.key_escaped || slot == nullptr || *slot != nullptr) return false;
    *slot = &m;
  }
  return true;
}

struct scan_reader {
  std::vector<json_element> elements;
  std::vector<json_member> members;
  std::vector<json_member> session_members;

  // Calls on_visit(const found_visit&) for each visit of `body`; false when the body is not a
  // plain batch or on_visit says false. What read_visit_members reads before read_visit.
  template <class OnVisit>
  bool read(std::string_view body, OnVisit&& on_visit) {
    if (!scan_member_array(body, "visits", k_batch_max, elements, members)) return false;
    found_visit v;
    for (const auto& e : elements) {
      visit_members m;
      if (!e.object || !find_visit_members(std::span(members).subspan(e.first, e.count), m)) {
        return false;
      }
      v = {};
      if (m.referrer != nullptr && m.referrer->kind != json_kind::null) {
        if (m.referrer->kind != json_kind::string || m.referrer->value_escaped) return false;
        v.has_referrer = true;
        v.referrer = m.referrer->value;
      }
      if (m.landing_url == nullptr || m.landing_url->kind != json_kind::string ||
          m.landing_url->value_escaped) {
        return false;
      }
      v.landing_url = m.landing_url->value;
      if (m.session != nullptr && m.session->kind != json_kind::null) {
        if (m.session->kind != json_kind::object ||
            !scan_object(m.session->value, session_members)) {
          return false;
        }
        unsigned seen = 0;
        for (const auto& s : session_members) {
          std::size_t which = session_slot(s.key);
          if (s.key_escaped || which == std::size(k_session_names) || (seen >> which & 1u) != 0) {
            return false;
          }
          seen |= 1u << which;
          if (s.kind == json_kind::null) continue;
          if (s.kind != json_kind::string || s.value_escaped) return false;
          v.session[which] = s.value;
        }
        v.has_session = true;
      }
      if (!on_visit(std::as_const(v))) return false;
    }
    return true;
  }

  // The batch handler's fast path: each element's visit into `out`.
  template <class OnVisit>
  bool read_visits(std::string_view body, visit& out, OnVisit&& on_visit) {
    if (!scan_member_array(body, "visits", k_batch_max, elements, members)) return false;
    for (const auto& e : elements) {
      if (!e.object ||
          !read_visit_members(std::span(members).subspan(e.first, e.count), false, session_members,
                              out) ||
          !on_visit(std::as_const(out))) {
        return false;
      }
    }
    return true;
  }
};

// A string value read by the simdjson readers: as written between its quotes when not
// Unescape (false when it holds an escape, which the strict parser is left to read), else
// unescaped by get_string(). False for any other value.
template <bool Unescape>
bool read_string(od::value& value, std::string_view& out) {
  if constexpr (Unescape) {
    return value.get_string().get(out) == simdjson::SUCCESS;
  } else {
    // The token and the whitespace after it, unchecked: the string's bytes were checked for
    // UTF-8 and control characters by iterate(); its escapes are not, hence the give-up.
    std::string_view token = value.raw_json_token();
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t' || token.back() == '\n' ||
                              token.back() == '\r')) {
      token.remove_suffix(1);
    }
    if (token.size() < 2 || token.front() != '"' || token.back() != '"') return false;
    out = token.substr(1, token.size() - 2);
    return out.find('\\') == std::string_view::npos;
  }
}

// A member's name: as written (false when it holds an escape) or unescaped.
template <bool Unescape>
bool read_key(od::field& field, std::string_view& out) {
  if constexpr (Unescape) {
    return field.unescaped_key().get(out) == simdjson::SUCCESS;
  } else {
    // raw() points past the opening quote of a key iterate() found closed; the key ends at
    // the first quote, as it holds no backslash.
    const char* raw = field.key().raw();
    std::size_t n = 0;
    while (raw[n] != '"') {
      if (raw[n] == '\\') return false;
      ++n;
    }
    out = std::string_view(raw, n);
    return true;
  }
}

// True with `is_null` when `value` is null or a string read into `out`.
template <bool Unescape>
bool read_nullable_string(od::value& value, bool& is_null, std::string_view& out) {
  if (value.is_null().get(is_null) != simdjson::SUCCESS) return false;
  return is_null || read_string<Unescape>(value, out);
}

template <bool Unescape>
bool read_session(od::value& value, found_visit& v) {
  bool is_null = false;
  if (value.is_null().get(is_null) != simdjson::SUCCESS) return false;
  if (is_null) return true;
  od::object session;
  if (value.get_object().get(session) != simdjson::SUCCESS) return false;
  unsigned seen = 0;
  for (auto member : session) {
    od::field field;
    std::string_view key;
    if (std::move(member).get(field) != simdjson::SUCCESS || !read_key<Unescape>(field, key)) {
      return false;
    }
    std::size_t which = session_slot(key);
    if (which == std::size(k_session_names) || (seen >> which & 1u) != 0) return false;
    seen |= 1u << which;
    std::string_view text;
    if (!read_nullable_string<Unescape>(field.value(), is_null, text)) return false;
    if (!is_null) v.session[which] = text;
  }
  v.has_session = true;
  return true;
}

template <bool Unescape>
bool read_visit_object(od::object& object, found_visit& v) {
  v = {};
  bool seen_referrer = false, seen_landing_url = false, seen_session = false;
  for (auto member : object) {
    od::field field;
    std::string_view key;
    if (std::move(member).get(field) != simdjson::SUCCESS || !read_key<Unescape>(field, key)) {
      return false;
    }
    if (key == "referrer") {
      bool is_null = false;
      if (std::exchange(seen_referrer, true) ||
          !read_nullable_string<Unescape>(field.value(), is_null, v.referrer)) {
        return false;
      }
      v.has_referrer = !is_null;
    } else if (key == "landing_url") {
      if (std::exchange(seen_landing_url, true) ||
          !read_string<Unescape>(field.value(), v.landing_url)) {
        return false;
      }
    } else if (key == "session") {
      if (std::exchange(seen_session, true) || !read_session<Unescape>(field.value(), v)) {
        return false;
      }
    } else {
      return false;
    }
  }
  return seen_landing_url;
}

class simdjson_reader {
 public:
  explicit simdjson_reader(std::string_view body) : body_(body) {}

  // Calls on_visit(const found_visit&) for each visit of the body; false when it is not a
  // plain batch (its one member "visits", an array of at most k_batch_max objects, then
  // nothing) or on_visit says false.
  template <bool Unescape, class OnVisit>
  bool read(OnVisit&& on_visit) {
    od::document doc;
    od::object root;
    if (parser_.iterate(body_).get(doc) != simdjson::SUCCESS ||
        doc.get_object().get(root) != simdjson::SUCCESS) {
      return false;
    }
    bool seen_visits = false;
    found_visit v;
    for (auto member : root) {
      od::field field;
      std::string_view key;
      od::array visits;
      if (std::exchange(seen_visits, true) || std::move(member).get(field) != simdjson::SUCCESS ||
          !read_key<false>(field, key) || key != "visits" ||
          field.value().get_array().get(visits) != simdjson::SUCCESS) {
        return false;
      }
      std::size_t count = 0;
      for (auto element : visits) {
        od::object object;
        if (++count > k_batch_max || element.get_object().get(object) != simdjson::SUCCESS ||
            !read_visit_object<Unescape>(object, v) || !on_visit(std::as_const(v))) {
          return false;
        }
      }
    }
    // Past the root object there is only whitespace: the location is then out of bounds.
    const char* rest = nullptr;
    return seen_visits && doc.current_location().get(rest) == simdjson::OUT_OF_BOUNDS;
  }

 private:
  simdjson::padded_string body_;
  od::parser parser_;
};

struct variant {
  const char* name;
  std::function<bool(std::size_t&)> run;  // true with the body's digest
  std::vector<double> seconds;            // one per iteration
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: bench_json_readers BATCH_JSON [ITERATIONS=300]\n");
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::ostringstream read;
  read << in.rdbuf();
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", argv[1]);
    return 2;
  }
  const std::string body = std::move(read).str();
  const int iterations = argc == 3 ? std::atoi(argv[2]) : 300;
  if (iterations < 1) {
    std::fprintf(stderr, "ITERATIONS must be a positive number\n");
    return 2;
  }

  scan_reader scan;
  simdjson_reader simd(body);
  visit out;
  std::size_t visits = 0;
  auto count_text = [&visits](std::size_t& d) {
    return [&visits, &d](const found_visit& v) {
      d += digest(v);
      ++visits;
      return true;
    };
  };
  auto count_visit = [&visits](std::size_t& d) {
    return [&visits, &d](const visit& v) {
      d += v.referrer_host.size() + v.landing_host.size() + v.landing_query.size() +
           (v.session ? 1 : 0);
      ++visits;
      return true;
    };
  };
  std::vector<variant> variants = {
      {"json  scan", [&](std::size_t& d) { return scan.read(body, count_text(d)); }, {}},
      {"json  simdjson raw", [&](std::size_t& d) { return simd.read<false>(count_text(d)); }, {}},
      {"json  simdjson string", [&](std::size_t& d) { return simd.read<true>(count_text(d)); }, {}},
      {"visit scan",
       [&](std::size_t& d) { return scan.read_visits(body, out, count_visit(d)); },
       {}},
      {"visit simdjson raw",
       [&](std::size_t& d) {
         return simd.read<false>([&](const found_visit& v) {
           referrald::domain::visit_text text;
           if (v.has_referrer) text.referrer = v.referrer;
           text.landing_url = v.landing_url;
           text.has_session = v.has_session;
           text.session = v.session;
           return read_visit(text, out) && count_visit(d)(out);
         });
       },
       {}},
  };

  // One untimed run each: every variant reads the whole body, and readers of the same kind
  // read the same strings.
  std::size_t batch_visits = 0;
  std::size_t json_digest = 0, visit_digest = 0;
  for (auto& v : variants) {
    std::size_t d = 0;
    visits = 0;
    if (!v.run(d) || visits == 0) {
      std::fprintf(stderr, "%s: not a plain batch of visits\n", v.name);
      return 1;
    }
    std::size_t& expected =
        std::string_view(v.name).starts_with("json") ? json_digest : visit_digest;
    if (batch_visits == 0) batch_visits = visits;
    if (expected == 0) expected = d;
    if (visits != batch_visits || d != expected) {
      std::fprintf(stderr, "%s: read %zu visits (digest %zu), others %zu (%zu)\n", v.name, visits,
                   d, batch_visits, expected);
      return 1;
    }
  }

  const int rounds = std::min(iterations, 10);
  for (int r = 0; r < rounds; ++r) {
    const int runs = iterations / rounds + (r < iterations % rounds ? 1 : 0);
    for (auto& v : variants) {
      for (int i = 0; i < runs; ++i) {
        std::size_t d = 0;
        auto start = clock_type::now();
        bool ok = v.run(d);
        v.seconds.push_back(std::chrono::duration<double>(clock_type::now() - start).count());
        if (!ok) std::abort();  // it read this body before
      }
    }
  }

  std::printf(
      "body %zu bytes, %zu visits; %d iterations per variant; simdjson %d.%d.%d, stage 1 "
      "%s, On-Demand %s\n\n",
      body.size(), batch_visits, iterations, simdjson::SIMDJSON_VERSION_MAJOR,
      simdjson::SIMDJSON_VERSION_MINOR, simdjson::SIMDJSON_VERSION_REVISION,
      simdjson::get_active_implementation()->name().c_str(),
      JSON_READERS_NAME(SIMDJSON_BUILTIN_IMPLEMENTATION));
  std::printf("%-22s %10s %10s %14s %14s %10s\n", "variant", "best MB/s", "med MB/s",
              "best visits/s", "med visits/s", "med ms");
  for (const auto& v : variants) {
    double best = *std::min_element(v.seconds.begin(), v.seconds.end());
    double med = median(v.seconds);
    std::printf("%-22s %10.0f %10.0f %14.0f %14.0f %10.3f\n", v.name, body.size() / best / 1e6,
                body.size() / med / 1e6, batch_visits / best, batch_visits / med, med * 1e3);
  }
  return 0;
}
