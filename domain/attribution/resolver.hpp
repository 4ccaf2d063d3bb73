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
// resolve() runs as named stages, in the order of the table: classify the referrer (its host's
// facts under the rules, referrer_facts.hpp), the landing URL's parameters (rows 1-2),
// internal navigation (3), the account's rules (4-5), the lists (6-7), the plain referrer
// (8-9), then the channel. `explain` is a recorder each stage tells what it checked; the
// answer does not depend on it. The visit is read by visit.hpp; the answer is written by
// resolution.hpp.
//
// Pure and read-only: resolve() may run on any thread against a published state.

#include "domain/attribution/resolution.hpp"
#include "domain/attribution/visit.hpp"
#include "domain/base/json.hpp"
#include "domain/rules/account_state.hpp"

namespace referrald::domain {

// With `explain`, every step and every rule checked is described into it (as a JSON
// array). The result refers to `v`, which must outlive it.
resolution resolve(const account_state& s, const visit& v, json_writer* explain = nullptr);

}  // namespace referrald::domain
