#pragma once

// Regular expressions for `regex` mappings: PCRE2, caseless, UTF-8, JIT-compiled, and
// matched under a match limit, a depth limit and a heap limit so that no pattern — not
// even catastrophic backtracking such as `(a+)+$` — can stall the thread matching it.
// A match stopped by a limit counts as no match and is counted in
// process_metrics::regex_match_limit_hits.
//
// Patterns may not start with PCRE2 option settings ("(*NO_JIT)", "(*LIMIT_MATCH=1)",
// "(*UTF)"...): the server sets the engine and the limits itself (check_pattern refuses
// them for new rules; a stored pattern from an earlier release is compiled without its
// (*NO_JIT)).
//
// A compiled_regex is immutable: one object may be matched from many threads at once.

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

  // Searches `subject` (unanchored).
  outcome match(std::string_view subject) const;
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

// Exposed for tests: the longest literal run every match of `pattern` must contain, found
// by a conservative scan (nullopt when unsure: alternation, inline options, escapes it
// does not know).
std::optional<std::string> required_literal(std::string_view pattern);

}  // namespace referrald::domain
