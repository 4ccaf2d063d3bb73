#pragma once

// Attribution resolution (docs/api-guide.md, "Attribution resolution"): how a visit is attributed,
// given an account's rules. The first row of the precedence table that applies decides:
//
//   1 utm          the landing URL has a utm_* parameter (or one of the account's
//                  campaign parameters, settings)              -> those parameters
//   2 click_id     a known ad click id (gclid, msclkid, fbclid, ...: the known-referrer
//                  list's click ids)                           -> its source and medium
//   3 internal     referrer host = landing host, or a subdomain of one another, or one
//                  of the account's own domains (settings)     -> the session's UTMs
//   4 passthrough_session / passthrough_fallback: an active passthrough referrer covers
//                  the referrer host                           -> the session's, else the rule's
//   5 mapping      an active mapping matches (priority order)  -> the mapping's
//   6 ai_platform  the referrer is on the AI-platform list     -> platform id, medium "ai"
//   7 known_referrer  the referrer is on the known-referrer list (unless the account's
//                  settings turn it off)                       -> its source and medium,
//                  and the search term as utm_term where the list names its parameter
//   8 referral     any other referrer                          -> referrer host, "referral"
//   9 direct       no referrer                                 -> the session's, else
//                                                                 (direct) / (none)
//
// Decisions this module makes where the table is silent: row 1 applies when one of the
// five standard keys (utm_source, utm_medium, utm_campaign, utm_term, utm_content) has a
// value that is not empty — utm_id, utm_source_platform and other utm_* names do not
// count; names are compared case-insensitively; values are form-decoded the way browsers
// do (`+` is a space, a malformed `%` is kept as written, control characters removed);
// the first occurrence of a key wins. A session counts only when at least one of its
// utm_* values is not empty (null, {} or all-empty is no session); row 3 without a
// session gives (direct) / (none); among passthrough rules covering a host the longest
// domain wins. `ai_platform` is reported whenever the referrer is an AI platform,
// whichever row decided; for a `utm` visit whose utm_source names an AI platform
// ("chatgpt.com", "perplexity"), that platform is reported (reason stays utm).
//
// Every resolution then gets a channel: the first of the account's active channel rules
// (by priority) that matches its final answer, else the default channel group
// (channels.hpp) on its final source, medium and campaign, else (the account turned the
// default group off) "Unassigned".
//
// Visits are read the way browsers read URLs (domain/web/url.hpp). A referrer with no host a
// browser can read ("about:blank", "javascript:...", "http://[]/") is no referrer: the
// visit goes on (direct) and the result carries a warning saying why; a landing URL that
// cannot be read has no host and no parameters, with a warning. 400 is kept for a body
// that is not a visit (wrong JSON types, missing fields, control characters in session
// values).
//
// Pure and read-only: resolve() may run on any thread against a published state.

#include <rapidjson/fwd.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/ai/ai_platforms.hpp"
#include "domain/attribution/known_referrers.hpp"
#include "domain/base/json.hpp"
#include "domain/base/result.hpp"
#include "domain/rules/account_state.hpp"

namespace referrald::domain {

struct utm_values {
  std::string source, medium, campaign, term, content;
  bool any() const {
    return !source.empty() || !medium.empty() || !campaign.empty() || !term.empty() ||
           !content.empty();
  }
};

struct visit {
  std::string referrer;                       // trimmed; empty: no referrer
  std::string referrer_host;                  // normalized; empty when there is no usable referrer
  std::string referrer_path;                  // the referrer's path and query as parsed (for the
  std::optional<std::string> referrer_query;  // known-referrer list's paths and search terms)
  std::string landing_host;                   // normalized host of the landing URL; may be empty
  std::string landing_query;                  // the landing URL's raw query string
  std::string landing_path;                   // the landing URL's path as written ("" when unread)
  std::optional<utm_values> session;          // present only when it has a non-empty value
  std::vector<std::string> warnings;          // what could not be read, and how it was treated
};

// Validates one visit object. In a batch, `index` names it in errors ("visits[3].referrer").
// `among_others`: the object is a record of a visit log, whose other fields are its own
// (referralctl attribute), not unknown fields of a visit.
result<visit> parse_visit(const rapidjson::Value& v,
                          std::optional<std::size_t> index = std::nullopt,
                          bool among_others = false);

// parse_visit for a reader that found the visit's fields without a JSON document (the
// lines of a visit log, domain/base/json_scan.hpp): the text of `referrer` (null: absent
// or null), of `landing_url`, and of the session's utm_* values in utm_values' order (null:
// no session object; an element is empty when the member is absent or null). True with
// `out` holding the visit parse_visit would give (its strings' storage reused); false when
// parse_visit would refuse these fields, which it then says why.
using session_text = std::array<std::optional<std::string_view>, 5>;
bool read_visit(const std::string_view* referrer, std::string_view landing_url,
                const session_text* session, visit& out);

struct resolution {
  utm_values utms;
  std::string_view reason;
  std::string_view rule_type;  // "passthrough" | "mapping" | "" (none)
  std::int64_t rule_id = 0;
  std::string_view referrer_host;  // a view into the visit resolved; empty: no referrer
  const ai_platform* ai = nullptr;
  const known_referrer* known = nullptr;  // the entry that decided (reason known_referrer)
  const click_id* click = nullptr;        // the landing URL's first known click id
  std::string_view channel;               // the channel rule's, or the default group's
  const domain::channel_rule* channel_rule = nullptr;  // the account's rule that gave it
  std::vector<std::string> warnings;                   // the visit's, and the resolution's own
  // The work its regexes did (domain/match/regex.hpp), for a caller that bounds a
  // request's work: not part of the answer.
  std::uint64_t regex_steps = 0;
};

// With `explain`, every step and every rule checked is described into it (as a JSON
// array written by the resolver). The result refers to `v`, which must outlive it.
resolution resolve(const account_state& s, const visit& v, json_writer* explain = nullptr);

// Appends the same JSON object as write_json (closed) to `out`, without a JSON writer:
// the hot path of batch resolution.
void append_json(std::string& out, const resolution& r);

// {"utm_source":..,"utm_medium":..,"utm_campaign":..,"utm_term":..,"utm_content":..,
//  "reason":..,"rule":{"type":..,"id":..}|null,"referrer_host":..|null,"ai_platform":..|null,
//  "known_referrer":{"source":..,"name":..,"category":..}|null,"click_id":..|null,
//  "channel":..,"channel_rule":{"id":..,"name":..}|null,"warnings":[..]}
// The object is left open when `leave_open` (so that "explain" can follow).
void write_json(json_writer& w, const resolution& r, bool leave_open = false);

}  // namespace referrald::domain
