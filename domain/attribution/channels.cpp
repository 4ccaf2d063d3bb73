#include "domain/attribution/channels.hpp"

#include <array>
#include <span>

#include "domain/base/text.hpp"

namespace referrald::domain {

namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool is(std::string_view s, std::string_view lowercase) { return equals_lower_ascii(s, lowercase); }

// The position of `needle` (lowercase) in `s` ignoring case, or npos.
std::size_t ifind(std::string_view s, std::string_view needle, std::size_t from = 0) {
  if (needle.size() > s.size()) return std::string_view::npos;
  for (std::size_t i = from; i + needle.size() <= s.size(); ++i) {
    std::size_t j = 0;
    while (j < needle.size() && lower(s[i + j]) == needle[j])
      ++j;
    if (j == needle.size()) return i;
  }
  return std::string_view::npos;
}

bool contains(std::string_view s, std::string_view needle) {
  return ifind(s, needle) != std::string_view::npos;
}

bool one_of(std::string_view s, std::initializer_list<std::string_view> values) {
  for (auto v : values)
    if (is(s, v)) return true;
  return false;
}

// Medium matches ^(.*cp.*|ppc|retargeting|paid.*)$
bool paid_medium(std::string_view m) {
  return contains(m, "cp") || is(m, "ppc") || is(m, "retargeting") ||
         (m.size() >= 4 && is(m.substr(0, 4), "paid"));
}

// Campaign matches ^(.*(([^a-df-z]|^)shop|shopping).*)$
bool shop_campaign(std::string_view c) {
  if (contains(c, "shopping")) return true;
  for (std::size_t at = ifind(c, "shop"); at != std::string_view::npos;
       at = ifind(c, "shop", at + 1)) {
    if (at == 0) return true;
    char before = lower(c[at - 1]);
    if (!((before >= 'a' && before <= 'd') || (before >= 'f' && before <= 'z'))) return true;
  }
  return false;
}

constexpr std::array<std::string_view, 20> k_channels = {"Direct",
                                                         "Cross-network",
                                                         "Paid Shopping",
                                                         "Paid Search",
                                                         "Paid Social",
                                                         "Paid Video",
                                                         "Display",
                                                         "Paid Other",
                                                         "AI assistants",
                                                         "Organic Shopping",
                                                         "Organic Social",
                                                         "Organic Video",
                                                         "Organic Search",
                                                         "Referral",
                                                         "Email",
                                                         "Affiliates",
                                                         "Audio",
                                                         "SMS",
                                                         "Mobile Push Notifications",
                                                         "Unassigned"};

}  // namespace

std::span<const std::string_view> default_channels() { return k_channels; }

channel_decision default_channel(const channel_inputs& in, const known_referrer_list& list) {
  const known_referrer* site = in.known != nullptr    ? in.known
                               : in.source_not_listed ? nullptr
                                                      : list.by_source(in.source);
  auto category = site != nullptr ? site->category : referrer_category::unknown;
  const bool paid = paid_medium(in.medium);
  const bool shop = category == referrer_category::shopping || shop_campaign(in.campaign);
  if (is(in.source, "(direct)") && one_of(in.medium, {"(not set)", "(none)"}))
    return {"Direct", "the source is (direct) and the medium (none) or (not set)"};
  if (contains(in.campaign, "cross-network"))
    return {"Cross-network", "the campaign contains cross-network"};
  if (shop && paid)
    return {"Paid Shopping",
            "the source is a shopping site or the campaign names shopping, and the medium is paid "
            "(cp*, ppc, retargeting, paid*)"};
  if (category == referrer_category::search && paid)
    return {"Paid Search",
            "the source is a search site and the medium is paid (cp*, ppc, "
            "retargeting, paid*)"};
  if (category == referrer_category::social && paid)
    return {"Paid Social",
            "the source is a social site and the medium is paid (cp*, ppc, "
            "retargeting, paid*)"};
  if (category == referrer_category::video && paid)
    return {"Paid Video",
            "the source is a video site and the medium is paid (cp*, ppc, "
            "retargeting, paid*)"};
  if (one_of(in.medium, {"display", "banner", "expandable", "interstitial", "cpm"}))
    return {"Display", "the medium is display, banner, expandable, interstitial or cpm"};
  if (paid) return {"Paid Other", "the medium is paid (cp*, ppc, retargeting, paid*)"};
  if (in.ai || is(in.medium, "ai"))
    return {"AI assistants", "the referrer or the source is on the AI-platform list"};
  if (shop)
    return {"Organic Shopping", "the source is a shopping site or the campaign names shopping"};
  if (category == referrer_category::social ||
      one_of(in.medium,
             {"social", "social-network", "social-media", "sm", "social network", "social media"}))
    return {"Organic Social", "the source is a social site or the medium is social"};
  if (category == referrer_category::video || contains(in.medium, "video"))
    return {"Organic Video", "the source is a video site or the medium contains video"};
  if (category == referrer_category::search || is(in.medium, "organic"))
    return {"Organic Search", "the source is a search site or the medium is organic"};
  if (one_of(in.medium, {"referral", "app", "link"}))
    return {"Referral", "the medium is referral, app or link"};
  if (one_of(in.source, {"email", "e-mail", "e_mail", "e mail"}) ||
      one_of(in.medium, {"email", "e-mail", "e_mail", "e mail"}))
    return {"Email", "the source or the medium is email"};
  if (is(in.medium, "affiliate")) return {"Affiliates", "the medium is affiliate"};
  if (is(in.medium, "audio")) return {"Audio", "the medium is audio"};
  if (is(in.source, "sms") || is(in.medium, "sms"))
    return {"SMS", "the source or the medium is sms"};
  if ((in.medium.size() >= 4 && is(in.medium.substr(in.medium.size() - 4), "push")) ||
      contains(in.medium, "mobile") || contains(in.medium, "notification") ||
      is(in.source, "firebase")) {
    return {"Mobile Push Notifications",
            "the medium ends with push or contains mobile or notification, or the source is "
            "firebase"};
  }
  return {"Unassigned", "no condition of the default channel group matches"};
}

}  // namespace referrald::domain
