#include "domain/match/regex.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cctype>

#include "infra/metrics.hpp"

namespace referrald::domain {

namespace {

constexpr std::uint32_t k_depth_limit = 2000;
constexpr std::uint32_t k_heap_limit_kib = 1024;
// The first limit a search runs under; each retry has four times as much.
constexpr std::uint64_t k_first_limit = 32;

// Per thread: match data (only the overall match is needed) and a match context whose
// match limit each attempt sets.
struct thread_scratch {
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  pcre2_match_context* context = [] {
    pcre2_match_context* c = pcre2_match_context_create(nullptr);
    pcre2_set_depth_limit(c, k_depth_limit);
    pcre2_set_heap_limit(c, k_heap_limit_kib);
    return c;
  }();
  ~thread_scratch() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(context);
  }
};

thread_scratch& scratch() {
  thread_local thread_scratch s;
  return s;
}

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  int n = pcre2_get_error_message(code, buf, sizeof buf);
  if (n < 0) return "error " + std::to_string(code);
  return std::string(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
}

bool is_meta(char c) {
  switch (c) {
    case '.':
    case '^':
    case '$':
    case '|':
    case '?':
    case '*':
    case '+':
    case '(':
    case ')':
    case '[':
    case ']':
    case '{':
    case '}':
    case '\\':
      return true;
    default:
      return false;
  }
}

// The index of the ']' closing the character class that opens at p[i] ('['), or the end.
std::size_t skip_class(std::string_view p, std::size_t i) {
  ++i;
  if (i < p.size() && p[i] == '^') ++i;
  if (i < p.size() && p[i] == ']') ++i;  // a leading ']' is a literal
  while (i < p.size() && p[i] != ']') {
    if (p[i] == '\\') ++i;
    ++i;
  }
  return i;
}

// Length of the start-of-pattern setting "(*NAME)" or "(*NAME=digits)" at the start of
// `p`, or 0.
std::size_t option_setting_length(std::string_view p) {
  if (!p.starts_with("(*")) return 0;
  std::size_t i = 2;
  while (i < p.size() && ((p[i] >= 'A' && p[i] <= 'Z') || p[i] == '_'))
    ++i;
  if (i == 2) return 0;
  if (i < p.size() && p[i] == '=') {
    ++i;
    while (i < p.size() && p[i] >= '0' && p[i] <= '9')
      ++i;
  }
  if (i < p.size() && p[i] == ')') return i + 1;
  return 0;
}

}  // namespace

std::optional<std::string> leading_option_setting(std::string_view pattern) {
  std::size_t n = option_setting_length(pattern);
  if (n == 0) return std::nullopt;
  // Backtracking verbs such as (*FAIL) or (*ACCEPT) are part of the match, not settings.
  std::string_view name = pattern.substr(2, n - 3);
  for (std::string_view verb : {"FAIL", "F", "ACCEPT", "COMMIT", "PRUNE", "SKIP", "THEN"}) {
    if (name == verb) return std::nullopt;
  }
  return std::string(pattern.substr(0, n));
}

std::optional<std::string> required_literal(std::string_view p) {
  // Inline options ((?x) makes spaces insignificant, (?-i) changes case rules...) and
  // top-level alternation defeat a simple scan: give up on them.
  if (p.find("(?") != std::string_view::npos) return std::nullopt;
  std::string best;
  std::string run;
  auto end_run = [&] {
    if (run.size() > best.size()) best = run;
    run.clear();
  };
  int depth = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (static_cast<unsigned char>(c) >= 0x80) return std::nullopt;
    if (depth > 0) {
      // Inside a group: skip to its end (its content may be optional or an alternation).
      if (c == '\\') {
        ++i;
      } else if (c == '[') {
        i = skip_class(p, i);
      } else if (c == '(') {
        ++depth;
      } else if (c == ')') {
        --depth;
      }
      continue;
    }
    switch (c) {
      case '|':
        return std::nullopt;
      case '(':
        end_run();
        depth = 1;
        continue;
      case '[':
        end_run();
        i = skip_class(p, i);
        continue;
      case '?':
      case '*':
        // The preceding atom is optional: a literal char just appended is not required.
        if (!run.empty()) run.pop_back();
        end_run();
        continue;
      case '{': {
        // {0,...} makes the preceding char optional; {n,...} with n >= 1 keeps it.
        if (i + 1 < p.size() && p[i + 1] == '0' && !run.empty()) run.pop_back();
        end_run();
        while (i < p.size() && p[i] != '}')
          ++i;
        continue;
      }
      case '+':
        end_run();
        continue;
      case '.':
      case '^':
      case '$':
      case ')':
      case ']':
      case '}':
        end_run();
        continue;
      case '\\': {
        if (i + 1 >= p.size()) return std::nullopt;
        char e = p[++i];
        if (is_meta(e) || e == '/' || e == '-' || e == '_' || e == '@' || e == ':' || e == '#' ||
            e == ' ' || e == '=' || e == '&' || e == '%' || e == '!' || e == ',' || e == '~') {
          run.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(e))));
        } else if (e == 'd' || e == 'D' || e == 'w' || e == 'W' || e == 's' || e == 'S' ||
                   e == 'b' || e == 'B' || e == 'A' || e == 'z' || e == 'Z' || e == 'G' ||
                   e == 'h' || e == 'H' || e == 'v' || e == 'V' || e == 'N' || e == 'R') {
          end_run();  // a class or an assertion: no literal
        } else {
          return std::nullopt;  // \x, \p, \Q, back references...: be safe
        }
        continue;
      }
      default:
        run.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
  }
  if (depth != 0) return std::nullopt;
  end_run();
  if (best.size() < 2) return std::nullopt;
  return best;
}

result<std::shared_ptr<const compiled_regex>> compiled_regex::compile(std::string_view pattern) {
  int code = 0;
  PCRE2_SIZE offset = 0;
  // (*NO_JIT) only changes which engine runs the match; a stored pattern keeps its
  // meaning without it. (Limits set in a pattern can only lower the server's.)
  std::string_view source = pattern;
  while (source.starts_with("(*NO_JIT)"))
    source.remove_prefix(9);
  pcre2_code* re =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(),
                    PCRE2_CASELESS | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code, &offset, nullptr);
  if (re == nullptr) {
    return make_error(errc::validation_failed,
                      "is not a valid regular expression: " + pcre2_message(code) + " at offset " +
                          std::to_string(offset));
  }
  // JIT when available; the interpreter (under the same limits) otherwise.
  (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);  // deliberately unchecked: fallback
  std::shared_ptr<compiled_regex> out(new compiled_regex());
  out->pattern_ = pattern;
  out->code_ = re;
  out->literal_ = domain::required_literal(pattern);
  return std::shared_ptr<const compiled_regex>(std::move(out));
}

compiled_regex::~compiled_regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

compiled_regex::outcome compiled_regex::match(std::string_view subject, std::uint64_t allowance,
                                              std::uint64_t& spent) const {
  thread_scratch& s = scratch();
  // Each attempt's limit is charged whole; together they stay within the allowance.
  for (std::uint64_t limit = std::min(k_first_limit, allowance); limit > 0;) {
    pcre2_set_match_limit(s.context, static_cast<std::uint32_t>(limit));
    int rc = pcre2_match(static_cast<const pcre2_code*>(code_),
                         reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0, 0, s.data,
                         s.context);
    spent += limit;
    allowance -= limit;
    if (rc >= 0) return outcome::match;
    if (rc == PCRE2_ERROR_NOMATCH) return outcome::no_match;
    if (rc == PCRE2_ERROR_MATCHLIMIT && limit < match_limit) {
      limit = std::min({limit * 4, match_limit, allowance});
      continue;
    }
    // The match limit at its most, _DEPTHLIMIT, _HEAPLIMIT, _JIT_STACKLIMIT and any other
    // error: no match, counted.
    infra::metrics().regex_match_limit_hits.fetch_add(1, std::memory_order_relaxed);
    return outcome::limit;
  }
  return outcome::limit;  // the allowance ran out first
}

regex_budget::result regex_budget::match(const compiled_regex& re, std::string_view subject,
                                         owner who) {
  ++searches_;
  if (exhausted()) {
    ++skipped_;
    return result::not_tried;
  }
  std::uint64_t steps = 0;
  auto o = re.match(subject, steps_per_visit - spent_, steps);
  spent_ += steps;
  // Keep the three biggest spenders (a rule's searches in one visit add up).
  use u{who, steps};
  for (auto& t : top_) {
    if (t.steps > 0 && t.who.kind == who.kind && t.who.id == who.id) {
      u.steps += t.steps;
      t = use{};
      break;
    }
  }
  for (auto& t : top_) {
    if (u.steps > t.steps) std::swap(u, t);
  }
  std::sort(top_.begin(), top_.end(), [](const use& a, const use& b) { return a.steps > b.steps; });
  switch (o) {
    case compiled_regex::outcome::match:
      return result::match;
    case compiled_regex::outcome::no_match:
      return result::no_match;
    case compiled_regex::outcome::limit:
      return result::stopped;
  }
  return result::no_match;
}

std::string regex_budget::warning() const {
  std::string out = "the account's regex rules used up the work budget of a visit (" +
                    std::to_string(steps_per_visit) + " steps):";
  const char* sep = " ";
  for (const auto& t : top_) {
    if (t.steps == 0) break;
    out += sep;
    out += std::string(t.who.kind) + " " + std::to_string(t.who.id) + " spent " +
           std::to_string(t.steps);
    sep = ", ";
  }
  out += "; " + std::to_string(skipped_) + (skipped_ == 1 ? " regex was" : " regexes were") +
         " not tried and count" + (skipped_ == 1 ? "s" : "") + " as not matching";
  return out;
}

}  // namespace referrald::domain
