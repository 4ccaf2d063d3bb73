#include "domain/rules/channel_rule.hpp"

#include "domain/base/schema_list.hpp"
#include "domain/base/schema_ops.hpp"
#include "domain/base/text.hpp"

namespace referrald::domain {

namespace {

constexpr std::string_view k_click_names[] = {"any", "present", "absent"};

// utm values are compared without regard to ASCII case: stored lowercase.
result<std::string> lower_value(std::string_view s) { return to_lower_ascii(s); }

constexpr char k_values_schema[] =
    R"j({"type":"array","maxItems":100,"items":{"type":"string","minLength":1,"maxLength":255},"description":"the final value must be one of these (ASCII case-insensitive); empty: no condition"})j";
constexpr schema::string_list_rules k_source{"utm_source", 100, 255, &lower_value, k_values_schema};
constexpr schema::string_list_rules k_medium{"utm_medium", 100, 255, &lower_value, k_values_schema};
constexpr schema::string_list_rules k_campaign{"utm_campaign", 100, 255, &lower_value,
                                               k_values_schema};

bool one_of(std::string_view value, const std::vector<std::string>& allowed) {
  if (allowed.empty()) return true;
  for (const auto& a : allowed)
    if (equals_lower_ascii(value, a)) return true;
  return false;
}

}  // namespace

std::string_view to_string(click_condition c) {
  return schema::choice_name(k_click_names, static_cast<std::size_t>(c), "any");
}

std::span<const schema::field<channel_rule>> channel_rule_fields() {
  using schema::field, schema::type, schema::required, schema::server;
  using C = channel_rule;
  static const schema::choice_access<C> match_type_access{
      &schema::get_choice<C, domain::match_type, &C::match_type>,
      &schema::set_choice<C, domain::match_type, &C::match_type>, match_type_names()};
  static const schema::choice_access<C> click_access{
      &schema::get_choice<C, click_condition, &C::click_id>,
      &schema::set_choice<C, click_condition, &C::click_id>, k_click_names};
  static const auto source = schema::string_list<C, &C::utm_source, k_source>::access();
  static const auto medium = schema::string_list<C, &C::utm_medium, k_medium>::access();
  static const auto campaign = schema::string_list<C, &C::utm_campaign, k_campaign>::access();
  // Limits of the API (docs/openapi.json is generated from this table). Tags are stored: never
  // reuse or renumber one.
  static const field<C> fields[] = {
      {"id", 1, type::integer, &C::id, server},
      {"account_id", 0, type::string, std::monostate{}, server},
      {"name", 2, type::string, &C::name, required, 1, 100},
      {"channel", 3, type::string, &C::channel, required, 1, 100},
      {"utm_source", 4, type::custom, source},
      {"utm_medium", 5, type::custom, medium},
      {"utm_campaign", 6, type::custom, campaign},
      {"referrer_pattern", 7, type::nullable_string, &C::referrer_pattern, 0, 0, 255},
      {"match_type", 8, type::choice, match_type_access},
      {"click_id", 9, type::choice, click_access},
      {"landing_path_prefix", 10, type::nullable_string, &C::landing_path_prefix, 0, 0, 255},
      {"priority", 11, type::integer, &C::priority, 0, 0, 1000},
      {"description", 12, type::nullable_string, &C::description, 0, 0, 500},
      {"is_active", 13, type::boolean, &C::is_active},
      {"created_at", 14, type::timestamp, &C::created_at, server},
      {"updated_at", 15, type::timestamp, &C::updated_at, server},
  };
  return fields;
}

bool channel_rule::matches(const channel_facts& f, regex_budget* budget) const {
  if (!one_of(f.source, utm_source) || !one_of(f.medium, utm_medium) ||
      !one_of(f.campaign, utm_campaign)) {
    return false;
  }
  if (click_id == click_condition::present && !f.click_id) return false;
  if (click_id == click_condition::absent && f.click_id) return false;
  if (landing_path_prefix && !f.landing_path.starts_with(*landing_path_prefix)) return false;
  if (referrer_pattern) {
    if (f.referrer_host.empty()) return false;
    if (match_type != match_type::regex) {
      return host_matches_pattern(f.referrer_host, *referrer_pattern, match_type, nullptr);
    }
    if (regex == nullptr) return false;
    if (budget == nullptr) return regex->matches(f.referrer_host);
    return regex_budget::matched(budget->match(*regex, f.referrer_host, {"channel rule", id}));
  }
  return true;
}

bool operator==(const channel_rule& a, const channel_rule& b) {
  for (const auto& f : channel_rule_fields())
    if (!schema::same_value(f, a, b)) return false;
  return true;
}

status channel_rule_normalize(channel_rule& r) {
  r.regex = nullptr;
  // An empty condition is no condition.
  if (r.referrer_pattern && r.referrer_pattern->empty()) r.referrer_pattern.reset();
  if (r.landing_path_prefix && r.landing_path_prefix->empty()) r.landing_path_prefix.reset();
  if (r.landing_path_prefix && !r.landing_path_prefix->starts_with('/')) {
    return field_invalid("landing_path_prefix", "must start with '/' (a path such as /pricing)");
  }
  if (r.landing_path_prefix) {
    if (auto at = r.landing_path_prefix->find_first_of("?#"); at != std::string::npos) {
      return field_invalid("landing_path_prefix",
                           std::string("holds '") + (*r.landing_path_prefix)[at] +
                               "', which a landing URL's path never does (the query and the "
                               "fragment are not part of it): give the path alone, such as " +
                               excerpt(r.landing_path_prefix->substr(0, at), 60) +
                               ", and match campaign parameters with utm_source, utm_medium "
                               "or utm_campaign");
    }
  }
  if (r.referrer_pattern) {
    auto normal = normalize_pattern(*r.referrer_pattern, r.match_type);
    if (!normal) return field_invalid("referrer_pattern", normal.err().message);
    r.referrer_pattern = std::move(normal->pattern);
    r.regex = std::move(normal->regex);
  }
  bool any = !r.utm_source.empty() || !r.utm_medium.empty() || !r.utm_campaign.empty() ||
             r.referrer_pattern || r.click_id != click_condition::any || r.landing_path_prefix;
  if (!any) {
    return field_invalid("channel",
                         "is given only by a rule with at least one condition: set utm_source, "
                         "utm_medium, utm_campaign, referrer_pattern, click_id or "
                         "landing_path_prefix");
  }
  // A match type without a pattern says nothing: it is stored as the default.
  if (!r.referrer_pattern) r.match_type = match_type::exact;
  return {};
}

}  // namespace referrald::domain
