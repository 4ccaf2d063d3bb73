#include "domain/rules/settings.hpp"

#include <array>

#include "domain/base/schema_list.hpp"
#include "domain/base/schema_ops.hpp"
#include "domain/base/text.hpp"
#include "domain/rules/passthrough.hpp"
#include "domain/web/host.hpp"

namespace referrald::domain {

namespace {

// "*.acme.com" keeps its wildcard; the domain is normalized as a passthrough domain's. A URL
// is read for its host, but what a URL holds besides its scheme and host is refused, not
// dropped: a user name, a port (sites are compared by host, whatever the port), a path (a
// network such as 10.0.0.0/8 is no domain), a query or a fragment.
result<std::string> own_domain(std::string_view raw) {
  std::string_view v = trim(raw);
  bool wildcard = v.starts_with("*.");
  if (wildcard) v.remove_prefix(2);
  auto scheme = v.find("://");
  std::string_view after = scheme == std::string_view::npos ? v : v.substr(scheme + 3);
  auto end = after.find_first_of("/?#\\");
  std::string_view authority = after.substr(0, end);
  std::string_view tail = end == std::string_view::npos ? std::string_view() : after.substr(end);
  auto refuse = [&](const std::string& why) -> result<std::string> {
    return make_error(errc::validation_failed, "'" + excerpt(raw) + "' " + why +
                                                   ": give the domain alone, such as acme.com");
  };
  if (authority.find('@') != std::string_view::npos) return refuse("holds a user name");
  std::string_view host_end =
      authority.starts_with('[') ? authority.substr(authority.find(']') + 1) : authority;
  if (host_end.find(':') != std::string_view::npos) {
    return refuse("holds a port (own domains are matched by host, whatever the port)");
  }
  if (!tail.empty() && tail != "/") {
    bool network = tail.size() > 1 && tail.find_first_not_of("0123456789", 1) == std::string::npos;
    return refuse(network ? "is a network, not a domain (own domains are host names)"
                          : "holds a path, query or fragment");
  }
  auto domain = normalize_domain(v);
  if (!domain) return std::move(domain).err();
  return wildcard ? "*." + *domain : *domain;
}

// A dismissed host: a host name, normalized as a passthrough domain's.
result<std::string> dismissed_host(std::string_view raw) { return normalize_domain(trim(raw)); }

// A dismissed utm_medium value: as it was counted (its case kept), without surrounding spaces.
result<std::string> dismissed_medium(std::string_view raw) {
  auto v = trim(raw);
  if (v.empty()) return make_error(errc::validation_failed, "is empty");
  return std::string(v);
}

result<std::string> preset_name(std::string_view raw) {
  std::string name = to_lower_ascii(raw);
  if (name != "matomo") {
    return make_error(errc::validation_failed,
                      "is not a preset (the one preset is 'matomo': mtm_* and pk_* parameters)");
  }
  return name;
}

result<std::string> parameter_name(std::string_view raw) {
  for (char c : raw) {
    if (c == '&' || c == '=' || c == '#' || c == ' ' || c == '+' || c == '%') {
      return make_error(errc::validation_failed,
                        std::string("is not a query parameter name (contains '") + c + "')");
    }
  }
  return to_lower_ascii(raw);
}

constexpr char k_domains_schema[] =
    R"j({"type":"array","maxItems":100,"items":{"type":"string","minLength":1,"maxLength":255},"description":"the account's own sites: a host name (that host), or *. and a domain (it and every subdomain)"})j";
constexpr char k_presets_schema[] =
    R"j({"type":"array","maxItems":1,"items":{"type":"string","enum":["matomo"]},"description":"named sets of campaign parameters: matomo (mtm_* and pk_*)"})j";
constexpr char k_params_schema[] =
    R"j({"type":"array","maxItems":20,"items":{"type":"string","minLength":1,"maxLength":100},"description":"query parameter names (any ASCII case) read for this value when the landing URL has no utm_* value for it"})j";

constexpr char k_dismissed_hosts_schema[] =
    R"j({"type":"array","maxItems":1000,"items":{"type":"string","minLength":1,"maxLength":255},"description":"referrer hosts whose insights suggestion was dismissed: not suggested again (a suggestion's dismiss request adds one)"})j";
constexpr char k_dismissed_mediums_schema[] =
    R"j({"type":"array","maxItems":1000,"items":{"type":"string","minLength":1,"maxLength":255},"description":"utm_medium values whose insights suggestion was dismissed: not suggested again"})j";
constexpr schema::string_list_rules k_dismissed_hosts{"insights_dismissed_hosts", 1000, 255,
                                                      &dismissed_host, k_dismissed_hosts_schema};
constexpr schema::string_list_rules k_dismissed_mediums{
    "insights_dismissed_mediums", 1000, 255, &dismissed_medium, k_dismissed_mediums_schema};
constexpr schema::string_list_rules k_domains{"own_domains", 100, 255, &own_domain,
                                              k_domains_schema};
constexpr schema::string_list_rules k_presets{"campaign_parameter_presets", 1, 32, &preset_name,
                                              k_presets_schema};
constexpr schema::string_list_rules k_source{"source_parameters", 20, 100, &parameter_name,
                                             k_params_schema};
constexpr schema::string_list_rules k_medium{"medium_parameters", 20, 100, &parameter_name,
                                             k_params_schema};
constexpr schema::string_list_rules k_campaign{"campaign_parameters", 20, 100, &parameter_name,
                                               k_params_schema};
constexpr schema::string_list_rules k_term{"term_parameters", 20, 100, &parameter_name,
                                           k_params_schema};
constexpr schema::string_list_rules k_content{"content_parameters", 20, 100, &parameter_name,
                                              k_params_schema};

// Matomo's campaign parameter names (its documentation, "Campaign tracking": the mtm_*
// names, the older pk_* and piwik_* ones and the short forms Matomo still reads).
const std::array<std::vector<std::string_view>, 5> k_matomo = {{
    {"mtm_source", "pk_source"},
    {"mtm_medium", "pk_medium"},
    {"mtm_campaign", "mtm_cpn", "pk_campaign", "pk_cpn", "piwik_campaign", "matomo_campaign",
     "_rcn"},
    {"mtm_keyword", "mtm_kwd", "pk_keyword", "pk_kwd", "piwik_kwd", "matomo_kwd", "_rkw"},
    {"mtm_content", "pk_content"},
}};

}  // namespace

std::span<const std::vector<std::string_view>> campaign_preset(std::string_view preset) {
  if (preset == "matomo") return k_matomo;
  return {};
}

std::span<const schema::field<account_settings>> settings_fields() {
  using schema::field, schema::type, schema::server, schema::hidden;
  using S = account_settings;
  static const auto domains = schema::string_list<S, &S::own_domains, k_domains>::access();
  static const auto presets =
      schema::string_list<S, &S::campaign_parameter_presets, k_presets>::access();
  static const auto source = schema::string_list<S, &S::source_parameters, k_source>::access();
  static const auto medium = schema::string_list<S, &S::medium_parameters, k_medium>::access();
  static const auto campaign =
      schema::string_list<S, &S::campaign_parameters, k_campaign>::access();
  static const auto term = schema::string_list<S, &S::term_parameters, k_term>::access();
  static const auto content = schema::string_list<S, &S::content_parameters, k_content>::access();
  static const auto dismissed_hosts =
      schema::string_list<S, &S::insights_dismissed_hosts, k_dismissed_hosts>::access();
  static const auto dismissed_mediums =
      schema::string_list<S, &S::insights_dismissed_mediums, k_dismissed_mediums>::access();
  // Tags are stored: never reuse or renumber one.
  static const field<S> fields[] = {
      {"id", 1, type::integer, &S::id, server | hidden},
      {"account_id", 0, type::string, std::monostate{}, server},
      {"own_domains", 2, type::custom, domains},
      {"campaign_parameter_presets", 3, type::custom, presets},
      {"source_parameters", 4, type::custom, source},
      {"medium_parameters", 5, type::custom, medium},
      {"campaign_parameters", 6, type::custom, campaign},
      {"term_parameters", 7, type::custom, term},
      {"content_parameters", 8, type::custom, content},
      {"known_referrers", 9, type::boolean, &S::known_referrers},
      {"default_channel_group", 10, type::boolean, &S::default_channel_group},
      {"insights", 13, type::boolean, &S::insights},
      {"insights_dismissed_hosts", 14, type::custom, dismissed_hosts},
      {"insights_dismissed_mediums", 15, type::custom, dismissed_mediums},
      {"created_at", 11, type::nullable_timestamp, &S::created_at, server},
      {"updated_at", 12, type::nullable_timestamp, &S::updated_at, server},
  };
  return fields;
}

bool account_settings::is_own(std::string_view host) const {
  for (const auto& d : own_domains) {
    if (d.starts_with("*.")) {
      if (host_matches_domain(host, std::string_view(d).substr(2))) return true;
    } else if (host == d) {
      return true;
    }
  }
  return false;
}

int account_settings::campaign_slot(std::string_view name) const {
  const std::vector<std::string>* custom[] = {&source_parameters, &medium_parameters,
                                              &campaign_parameters, &term_parameters,
                                              &content_parameters};
  for (int slot = 0; slot < 5; ++slot) {
    for (const auto& p : *custom[slot])
      if (equals_lower_ascii(name, p)) return slot;
  }
  for (const auto& preset : campaign_parameter_presets) {
    auto names = campaign_preset(preset);
    for (int slot = 0; slot < static_cast<int>(names.size()); ++slot) {
      for (auto p : names[slot])
        if (equals_lower_ascii(name, p)) return slot;
    }
  }
  return -1;
}

status check_campaign_parameters(const account_settings& s) {
  static constexpr std::string_view slot_fields[] = {"source_parameters", "medium_parameters",
                                                     "campaign_parameters", "term_parameters",
                                                     "content_parameters"};
  static constexpr std::string_view utm_names[] = {"utm_source", "utm_medium", "utm_campaign",
                                                   "utm_term", "utm_content"};
  const std::vector<std::string>* custom[] = {&s.source_parameters, &s.medium_parameters,
                                              &s.campaign_parameters, &s.term_parameters,
                                              &s.content_parameters};
  for (std::size_t slot = 0; slot < 5; ++slot) {
    const std::string field(slot_fields[slot]);
    for (const auto& name : *custom[slot]) {
      for (std::size_t u = 0; u < 5; ++u) {
        if (name == utm_names[u]) {
          return field_invalid(field, "'" + name + "' is read as " + std::string(utm_names[u]) +
                                          " itself; list only other parameter names");
        }
      }
      for (std::size_t other = 0; other < slot; ++other) {
        for (const auto& earlier : *custom[other]) {
          if (earlier == name) {
            return field_invalid(field, "'" + excerpt(name) + "' is already read for " +
                                            std::string(utm_names[other]) + " (" +
                                            std::string(slot_fields[other]) +
                                            "); a parameter fills one value");
          }
        }
      }
      for (const auto& preset : s.campaign_parameter_presets) {
        auto names = campaign_preset(preset);
        for (std::size_t other = 0; other < names.size(); ++other) {
          if (other == slot) continue;
          for (auto p : names[other]) {
            if (p == name) {
              return field_invalid(field, "'" + name + "' is read for " +
                                              std::string(utm_names[other]) + " by the " + preset +
                                              " preset; a parameter fills one value");
            }
          }
        }
      }
    }
  }
  return {};
}

bool operator==(const account_settings& a, const account_settings& b) {
  for (const auto& f : settings_fields())
    if (!schema::same_value(f, a, b)) return false;
  return true;
}

}  // namespace referrald::domain
