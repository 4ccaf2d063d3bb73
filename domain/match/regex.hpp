#pragma once

// Regular expressions for `regex` mappings and channel rules: PCRE2, caseless, UTF-8,
// JIT-compiled, and matched under a match limit, a depth limit and a heap limit so that no
// pattern — not even catastrophic backtracking such as `(a+)+$` — can stall the thread
// matching it. A match stopped by a limit counts as no match and is counted in
// process_metrics::regex_match_limit_hits.
//
// Work is counted in PCRE2's match-limit steps (the unit of pcre2_set_match_limit: about
// one backtracking step; a few nanoseconds each under the JIT). PCRE2 does not report the
// steps a match took, so a match runs under a small limit first and, when the limit stops
// it, again under a limit four times larger, up to what it may spend; the steps it is
// charged are the limits it ran under — never less than the work it did, at most a few
// times more. The same pattern and subject are always charged the same.
//
// Patterns may not start with PCRE2 option settings ("(*NO_JIT)", "(*LIMIT_MATCH=1)",
// "(*UTF)"...): the server sets the engine and the limits itself (check_pattern refuses
// them for new rules; a stored pattern from an earlier release is compiled without its
// (*NO_JIT)).
//
// A compiled_regex is immutable: one object may be matched from many threads at once.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "domain/base/result.hpp"

namespace referrald::domain {

// The first start-of-pattern option setting of `pattern` ("(*NO_JIT)"), if any.
std::optional<std::string> leading_option_setting(std::string_view pattern);

class compiled_regex {
 public:
  // Compiles `pattern`. On failure the error is validation_failed and says what PCRE2
  // said and at which character offset.
  static result<std::shared_ptr<const compiled_regex>> compile(std::string_view pattern);

  ~compiled_regex();
  compiled_regex(const compiled_regex&) = delete;
  compiled_regex& operator=(const compiled_regex&) = delete;

  enum class outcome { match, no_match, limit };

  // PCRE2's match limit for one search: enough for any sensible host pattern (hosts are at
  // most a few hundred characters), far too little for exponential blow-ups.
  static constexpr std::uint64_t match_limit = 100000;

  // Searches `subject` (unanchored) under the match limit, charging at most `allowance`
  // steps in all, which it adds to `spent`. `limit` when a limit stopped it (counted in
  // regex_match_limit_hits when it was PCRE2's, not when the allowance ran out first).
  outcome match(std::string_view subject, std::uint64_t allowance, std::uint64_t& spent) const;
  outcome match(std::string_view subject) const {
    std::uint64_t spent = 0;
    return match(subject, UINT64_MAX, spent);
  }
  bool matches(std::string_view subject) const { return match(subject) == outcome::match; }

  const std::string& pattern() const { return pattern_; }

  // A lowercase ASCII string that occurs in every subject this pattern matches (when the
  // subject is ASCII), if one could be found; used to skip patterns that cannot match.
  const std::optional<std::string>& required_literal() const { return literal_; }

 private:
  compiled_regex() = default;

  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8
  std::optional<std::string> literal_;
};

// The work the regexes of one visit may do together, whatever rules they belong to
// (mappings, channel rules): regex_budget::steps_per_visit match-limit steps. A regex tried
// once the budget is spent is not run and counts as not matching; the resolution then
// carries a warning naming the rules that spent the most. Counted in work, never in time:
// the same visit against the same rules gets the same answer on any machine, under any
// load. Not thread-safe: one per visit.
class regex_budget {
 public:
  static constexpr std::uint64_t steps_per_visit = 300000;

  // Which rule ran a regex: its kind ("mapping", "channel rule") and id.
  struct owner {
    std::string_view kind;
    std::int64_t id = 0;
  };
  // stopped: by a limit (PCRE2's, or the budget's end); not_tried: the budget was spent.
  enum class result { match, no_match, stopped, not_tried };

  // Searches `subject` with `re` within what remains of the budget.
  result match(const compiled_regex& re, std::string_view subject, owner who);
  static bool matched(result r) { return r == result::match; }

  bool exhausted() const { return spent_ >= steps_per_visit; }
  std::uint64_t spent() const { return spent_; }
  std::size_t not_tried() const { return skipped_; }    // not run: the budget was spent
  std::uint64_t searches() const { return searches_; }  // match() calls, run or not

  // The warning of a visit whose budget ran out: what the budget is, the rules that spent
  // the most of it, and how many regexes were not tried.
  std::string warning() const;

 private:
  struct use {
    owner who;
    std::uint64_t steps = 0;
  };
  std::uint64_t spent_ = 0;
  std::size_t skipped_ = 0;
  std::uint64_t searches_ = 0;
  std::array<use, 3> top_{};  // the biggest spenders, largest first (steps 0: none)
};

// Exposed for tests: the longest literal run every match of `pattern` must contain, found
// by a conservative scan (nullopt when unsure: alternation, inline options, escapes it
// does not know).
std::optional<std::string> required_literal(std::string_view pattern);

}  // namespace referrald::domain
