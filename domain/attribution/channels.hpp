#pragma once

// The default channel group (docs/attribution.md, "Channels"): GA4's default channel
// group, condition by condition and in its order, plus "AI assistants" for referrals from
// the AI-platform list, decided on a resolution's final source, medium and campaign and on
// the category of its source in the known-referrer list.
//
// Comparisons ignore ASCII case, as GA4's do. Pure; safe from any thread.

#include <span>
#include <string>
#include <string_view>

#include "domain/attribution/known_referrers.hpp"

namespace referrald::domain {

struct channel_inputs {
  std::string_view source, medium, campaign;
  // The known referrer that decided the visit (its category counts, not its source's),
  // or nullptr: the source is then looked up in the list (by_source) — unless
  // `source_not_listed` says the caller already looked it up in vain (a referral).
  const known_referrer* known = nullptr;
  bool ai = false;  // the referrer or utm_source is an AI platform
  bool source_not_listed = false;
};

struct channel_decision {
  std::string_view channel;    // "Organic Search"
  std::string_view condition;  // GA4's condition that decided, in words
};

channel_decision default_channel(const channel_inputs& in, const known_referrer_list& list);

// Every channel of the default group, in the order its conditions are tried.
std::span<const std::string_view> default_channels();

}  // namespace referrald::domain
