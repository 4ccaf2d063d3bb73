#pragma once

// The rule that would catch a fall-through answer (docs/insights.md), from what insights
// counted and the lists referrald already has. For a referrer host, in this order:
//
//   passthrough  the host is in the passthrough starter pack (payment, 3-D Secure, booking,
//                sign-in), or it has at least `min_visits` visits and more than
//                `session_share` of them carried an active session;
//   own_domain   the host shares its registrable domain with a landing host of its visits;
//   nothing      fewer than `min_visits` visits (the threshold is in the reason);
//   mapping      a recurring plain referral: its registrable domain with match_type
//                ends_with, and that domain's first label as utm_source.
//
// For an utm_medium value the default channel group did not know: a channel rule for it,
// with the default group's channel it most likely means (its keywords, or one a typo away),
// or nothing below `min_visits` or when no channel is near.
//
// A suggestion is a ready request body for an existing endpoint (method, path and JSON):
// accepting it is an ordinary, audited rule write. Dismissing it is one too: `dismiss` is the
// PATCH /settings body that adds the host (the medium) to the account's
// insights_dismissed_hosts (insights_dismissed_mediums), after which its suggestion is
// `dismissed`, never another. Pure; safe from any thread.

#include <cstdint>
#include <string>
#include <string_view>

#include "domain/insights/day_insights.hpp"
#include "domain/rules/settings.hpp"

namespace referrald::domain {

namespace suggestion_kinds {
inline constexpr std::string_view passthrough = "passthrough";
inline constexpr std::string_view mapping = "mapping";
inline constexpr std::string_view own_domain = "own_domain";
inline constexpr std::string_view channel_rule = "channel_rule";
inline constexpr std::string_view nothing = "nothing";
inline constexpr std::string_view dismissed = "dismissed";
}  // namespace suggestion_kinds

struct suggestion_policy {
  std::uint64_t min_visits = 5;
  double session_share = 0.5;
};

struct suggestion {
  std::string_view kind;  // one of suggestion_kinds::
  std::string reason;     // why, in words
  // The request that makes the rule ("POST", "/passthrough-referrers", its JSON body);
  // empty for nothing.
  std::string_view method, path;
  std::string body;
  // The PATCH /settings body that dismisses it; empty when dismissed already (or when the
  // account's settings were not given).
  std::string dismiss;
};

// `settings`: the account's, whose own_domains an own_domain suggestion extends.
suggestion suggest_for_host(std::string_view host, std::uint64_t visits, const host_stats& stats,
                            const account_settings& settings, const suggestion_policy& policy = {});

suggestion suggest_for_medium(std::string_view medium, std::uint64_t visits,
                              const suggestion_policy& policy = {});
// The same, knowing the account's settings: `dismissed` when it was, else with `dismiss`.
suggestion suggest_for_medium(std::string_view medium, std::uint64_t visits,
                              const account_settings& settings,
                              const suggestion_policy& policy = {});

// The default group's channel an utm_medium value most likely means; empty when none is near.
std::string_view likely_channel(std::string_view medium);

}  // namespace referrald::domain
