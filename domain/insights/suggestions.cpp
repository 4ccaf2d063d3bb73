#include "domain/insights/suggestions.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <array>
#include <vector>

#include "domain/base/json.hpp"
#include "domain/base/text.hpp"
#include "domain/rules/starter_pack.hpp"
#include "domain/web/host.hpp"

namespace referrald::domain {

namespace {

using json_out = json_writer;

void key_value(json_out& w, std::string_view key, std::string_view value) {
  write_key(w, key);
  write_string(w, value);
}

std::string text_of(const rapidjson::StringBuffer& b) { return {b.GetString(), b.GetSize()}; }

std::string count_of(std::uint64_t n, std::string_view what) {
  return std::to_string(n) + " " + std::string(what) + (n == 1 ? "" : "s");
}

suggestion passthrough(std::string_view domain, std::string_view source,
                       std::string_view service_name, std::string reason) {
  rapidjson::StringBuffer b;
  json_out w(b);
  w.StartObject();
  key_value(w, "domain", domain);
  key_value(w, "utm_source", source);
  if (!service_name.empty()) key_value(w, "service_name", service_name);
  w.EndObject();
  return {suggestion_kinds::passthrough, std::move(reason), "POST",
          "/passthrough-referrers",      text_of(b),        {}};
}

// The first label of a registrable domain ("partner" of "partner.co.uk").
std::string_view first_label(std::string_view domain) { return domain.substr(0, domain.find('.')); }

// Edit distance of two short words, a swap of two neighbours counting one (optimal string
// alignment); at most `most` + 1.
std::size_t distance(std::string_view a, std::string_view b, std::size_t most) {
  if (a.size() > b.size() + most || b.size() > a.size() + most) return most + 1;
  std::size_t width = b.size() + 1;
  std::vector<std::size_t> d((a.size() + 1) * width);
  auto at = [&](std::size_t i, std::size_t j) -> std::size_t& {
    return d[i * width + j];
  };
  for (std::size_t i = 0; i <= a.size(); ++i)
    at(i, 0) = i;
  for (std::size_t j = 0; j <= b.size(); ++j)
    at(0, j) = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      at(i, j) = std::min({at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        at(i, j) = std::min(at(i, j), at(i - 2, j - 2) + 1);
    }
  }
  return std::min(at(a.size(), b.size()), most + 1);
}

// Words of each channel of the default group, as its conditions name them.
struct channel_words {
  std::string_view channel;
  std::array<std::string_view, 6> words;
};
constexpr channel_words k_channel_words[] = {
    {"Email", {"email", "e-mail", "mail", "newsletter"}},
    {"Affiliates", {"affiliate", "affiliates", "partner"}},
    {"Display", {"display", "banner", "interstitial", "cpm", "expandable"}},
    {"Paid Search", {"cpc", "ppc", "paidsearch", "paid-search", "sem"}},
    {"Paid Social", {"paidsocial", "paid-social", "social-paid"}},
    {"Organic Social", {"social", "social-network", "social-media", "sm"}},
    {"Organic Video", {"video"}},
    {"SMS", {"sms"}},
    {"Mobile Push Notifications", {"push", "notification", "mobile"}},
    {"Referral", {"referral", "link", "app"}},
    {"Audio", {"audio", "podcast"}},
};

}  // namespace

std::string_view likely_channel(std::string_view raw) {
  std::string medium = to_lower_ascii(raw);
  // The value is a keyword, or holds one of four letters or more ("weekly-newsletter"),
  // the longest found first...
  std::string_view best;
  std::size_t best_length = 0;
  for (const auto& c : k_channel_words) {
    for (auto word : c.words) {
      if (word.empty() || word.size() <= best_length) continue;
      if (medium == word || (word.size() >= 4 && medium.find(word) != std::string::npos)) {
        best = c.channel;
        best_length = word.size();
      }
    }
  }
  if (!best.empty()) return best;
  // ...else a word one typo away ("emial", "refferal"; two for long words).
  for (const auto& c : k_channel_words) {
    for (auto word : c.words) {
      if (word.size() < 4) continue;
      std::size_t most = word.size() >= 8 ? 2 : 1;
      if (distance(medium, word, most) <= most) return c.channel;
    }
  }
  return {};
}

namespace {

// {"<list>": [the account's list as it is, and `value`]}.
std::string dismiss_body(std::string_view list, const std::vector<std::string>& kept,
                         std::string_view value) {
  rapidjson::StringBuffer b;
  json_out w(b);
  w.StartObject();
  write_key(w, list);
  w.StartArray();
  for (const auto& v : kept)
    write_string(w, v);
  write_string(w, value);
  w.EndArray();
  w.EndObject();
  return text_of(b);
}

suggestion dismissed_one(std::string_view list) {
  return {suggestion_kinds::dismissed,
          "dismissed (" + std::string(list) + " in the account's settings): not suggested again",
          {},
          {},
          {},
          {}};
}

bool listed(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

suggestion suggest_for_host_as_is(std::string_view host, std::uint64_t visits,
                                  const host_stats& stats, const account_settings& settings,
                                  const suggestion_policy& policy);

}  // namespace

suggestion suggest_for_host(std::string_view host, std::uint64_t visits, const host_stats& stats,
                            const account_settings& settings, const suggestion_policy& policy) {
  if (listed(settings.insights_dismissed_hosts, host)) {
    return dismissed_one("insights_dismissed_hosts");
  }
  auto s = suggest_for_host_as_is(host, visits, stats, settings, policy);
  s.dismiss = dismiss_body("insights_dismissed_hosts", settings.insights_dismissed_hosts, host);
  return s;
}

suggestion suggest_for_medium(std::string_view medium, std::uint64_t visits,
                              const account_settings& settings, const suggestion_policy& policy) {
  if (listed(settings.insights_dismissed_mediums, medium)) {
    return dismissed_one("insights_dismissed_mediums");
  }
  auto s = suggest_for_medium(medium, visits, policy);
  s.dismiss =
      dismiss_body("insights_dismissed_mediums", settings.insights_dismissed_mediums, medium);
  return s;
}

namespace {

suggestion suggest_for_host_as_is(std::string_view host, std::uint64_t visits,
                                  const host_stats& stats, const account_settings& settings,
                                  const suggestion_policy& policy) {
  if (const auto* e = starter_pack_entry_of(host)) {
    return passthrough(e->domain, e->utm_source, e->service_name,
                       "in the passthrough starter pack (" + e->category + ": " + e->service_name +
                           "): a page between two pages of the same visit");
  }
  std::string domain = registrable_domain(host);
  if (visits >= policy.min_visits && static_cast<double>(stats.with_session) >
                                         policy.session_share * static_cast<double>(visits)) {
    return passthrough(domain, first_label(domain), {},
                       count_of(stats.with_session, "visit") + " of " + std::to_string(visits) +
                           " carried an active session: a page between two pages of the "
                           "same visit (payment, 3-D Secure, booking, sign-in)");
  }
  for (const auto& landing : stats.landing_hosts) {
    if (landing.empty() || registrable_domain(landing) != domain) continue;
    rapidjson::StringBuffer b;
    json_out w(b);
    w.StartObject();
    w.Key("own_domains");
    w.StartArray();
    for (const auto& d : settings.own_domains)
      write_string(w, d);
    std::string own = "*." + domain;
    if (std::find(settings.own_domains.begin(), settings.own_domains.end(), own) ==
        settings.own_domains.end()) {
      write_string(w, own);
    }
    w.EndArray();
    w.EndObject();
    return {suggestion_kinds::own_domain,
            "shares its registrable domain " + domain + " with the landing host " + landing +
                ": the site's own navigation, not a referral",
            "PATCH",
            "/settings",
            text_of(b),
            {}};
  }
  if (visits < policy.min_visits) {
    return {suggestion_kinds::nothing,
            count_of(visits, "visit") + ", fewer than " + std::to_string(policy.min_visits) +
                ": too few to suggest a rule",
            {},
            {},
            {},
            {}};
  }
  rapidjson::StringBuffer b;
  json_out w(b);
  w.StartObject();
  key_value(w, "referrer_pattern", domain);
  key_value(w, "match_type", domain == host ? "exact" : "ends_with");
  key_value(w, "utm_source", first_label(domain));
  key_value(w, "utm_medium", "referral");
  w.EndObject();
  return {
      suggestion_kinds::mapping,
      "a recurring plain referral (" + count_of(visits, "visit") + "): a mapping names its source",
      "POST",
      "/referrer-mappings",
      text_of(b),
      {}};
}

}  // namespace

suggestion suggest_for_medium(std::string_view medium, std::uint64_t visits,
                              const suggestion_policy& policy) {
  if (visits < policy.min_visits) {
    return {suggestion_kinds::nothing,
            count_of(visits, "visit") + ", fewer than " + std::to_string(policy.min_visits) +
                ": too few to suggest a rule",
            {},
            {},
            {},
            {}};
  }
  auto channel = likely_channel(medium);
  if (channel.empty()) {
    return {suggestion_kinds::nothing,
            "the medium names no channel of the default group: choose one in a channel rule",
            {},
            {},
            {},
            {}};
  }
  // A rule's name holds at most 100 characters: the value cut at a character's start.
  std::size_t cut = std::min<std::size_t>(medium.size(), 80);
  while (cut < medium.size() && cut > 0 && (static_cast<unsigned char>(medium[cut]) & 0xC0) == 0x80)
    --cut;
  std::string name = "utm_medium " + std::string(medium.substr(0, cut));
  rapidjson::StringBuffer b;
  json_out w(b);
  w.StartObject();
  key_value(w, "name", name);
  key_value(w, "channel", channel);
  w.Key("utm_medium");
  w.StartArray();
  write_string(w, medium);
  w.EndArray();
  w.EndObject();
  return {suggestion_kinds::channel_rule,
          "an utm_medium value the default channel group does not know (" +
              count_of(visits, "visit") + "), most likely " + std::string(channel),
          "POST",
          "/channel-rules",
          text_of(b),
          {}};
}

}  // namespace referrald::domain
