#include "domain/rules/mapping.hpp"

#include "domain/base/schema_ops.hpp"
#include "domain/base/text.hpp"
#include "domain/web/host.hpp"

namespace referrald::domain {

namespace {

constexpr std::string_view k_match_type_names[] = {"exact", "contains", "starts_with", "ends_with",
                                                   "regex"};

}  // namespace

std::span<const std::string_view> match_type_names() { return k_match_type_names; }

std::string_view to_string(match_type t) {
  return schema::choice_name(k_match_type_names, static_cast<std::size_t>(t), "exact");
}

std::optional<match_type> match_type_from_string(std::string_view s) {
  auto pos = schema::choice_position(k_match_type_names, s);
  return pos ? std::optional(static_cast<match_type>(*pos)) : std::nullopt;
}

std::span<const schema::field<referrer_mapping>> mapping_fields() {
  using schema::field, schema::type, schema::required, schema::server;
  using M = referrer_mapping;
  static const schema::choice_access<M> match_type_access{
      &schema::get_choice<M, domain::match_type, &M::match_type>,
      &schema::set_choice<M, domain::match_type, &M::match_type>, k_match_type_names};
  // Limits of the API (docs/openapi.json is generated from this table). Tags are stored: never
  // reuse or renumber one.
  static const field<M> fields[] = {
      {"id", 1, type::integer, &M::id, server},
      {"account_id", 0, type::string, std::monostate{}, server},
      {"referrer_pattern", 2, type::string, &M::referrer_pattern, required, 1, 255},
      {"match_type", 3, type::choice, match_type_access},
      {"utm_source", 4, type::string, &M::utm_source, required, 1, 255},
      {"utm_medium", 5, type::string, &M::utm_medium, 0, 0, 100},
      {"utm_campaign", 6, type::string, &M::utm_campaign, 0, 0, 255},
      {"utm_term", 7, type::string, &M::utm_term, 0, 0, 255},
      {"utm_content", 8, type::string, &M::utm_content, 0, 0, 255},
      {"label", 9, type::string, &M::label, 0, 0, 100},
      {"description", 10, type::nullable_string, &M::description, 0, 0, 500},
      {"priority", 11, type::integer, &M::priority, 0, 0, 1000},
      {"is_active", 12, type::boolean, &M::is_active},
      {"created_at", 13, type::timestamp, &M::created_at, server},
      {"updated_at", 14, type::timestamp, &M::updated_at, server},
  };
  return fields;
}

bool host_matches_pattern(std::string_view host, std::string_view p, match_type type,
                          const compiled_regex* regex) {
  switch (type) {
    case match_type::exact:
      return host == p;
    case match_type::contains:
      return host.find(p) != std::string_view::npos;
    case match_type::starts_with:
      return host.starts_with(p);
    case match_type::ends_with:
      return host.size() >= p.size() && host.ends_with(p) &&
             (host.size() == p.size() || host[host.size() - p.size() - 1] == '.');
    case match_type::regex:
      return regex != nullptr && regex->matches(host);
  }
  return false;
}

bool referrer_mapping::matches(std::string_view host) const {
  return host_matches_pattern(host, referrer_pattern, match_type, regex.get());
}

bool operator==(const referrer_mapping& a, const referrer_mapping& b) {
  for (const auto& f : mapping_fields())
    if (!schema::same_value(f, a, b)) return false;
  return true;
}

result<normalized_pattern> normalize_pattern(std::string_view raw, match_type type) {
  if (type == match_type::regex) {
    if (auto setting = leading_option_setting(raw)) {
      return make_error(errc::validation_failed,
                        "must not start with the PCRE2 option setting " + *setting +
                            ": the server chooses the engine and the matching limits itself");
    }
    auto re = compiled_regex::compile(raw);
    if (!re) return std::move(re).err();
    return normalized_pattern{std::string(raw), std::move(*re)};
  }
  // '*' is no wildcard here, and no site's name holds it: such a rule could never match.
  if (raw.find('*') != std::string_view::npos) {
    std::string_view rest = trim(raw);
    while (rest.starts_with("*.") || rest.starts_with('*'))
      rest.remove_prefix(rest.starts_with("*.") ? 2 : 1);
    return make_error(errc::validation_failed,
                      "holds '*', which is not a wildcard: use match_type ends_with" +
                          (rest.empty() ? std::string() : " and '" + excerpt(rest, 60) + "'") +
                          " for a domain and every subdomain, or regex for other patterns");
  }
  // A trailing '.' in a prefix is meaningful: "news." must not match "newsroom.example".
  auto host =
      normalize_host(raw, idna_mode::strict,
                     type == match_type::starts_with ? trailing_dot::keep : trailing_dot::drop);
  if (!host) return std::move(host).err();
  std::string p = std::move(*host);
  // Only characters a normalized host can contain (RFC 3986 reg-name and IP literals):
  // anything else could never match.
  for (char c : p) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              std::string_view("-._~!$&'()*+,;=[]:").find(c) != std::string_view::npos;
    if (!ok) {
      return make_error(errc::validation_failed,
                        std::string("contains '") + c +
                            "', which no host name contains (use match_type regex for "
                            "patterns)");
    }
  }
  if (type == match_type::ends_with) {
    while (!p.empty() && p.front() == '.')
      p.erase(0, 1);
    if (p.empty()) return make_error(errc::validation_failed, "has no host name");
  }
  if ((type == match_type::exact || type == match_type::ends_with) && is_public_suffix(p)) {
    return make_error(errc::validation_failed,
                      "'" + excerpt(p) +
                          "' is a public suffix (the rule would cover every site under it); "
                          "give a domain registered under it");
  }
  return normalized_pattern{std::move(p), nullptr};
}

status mapping_normalize(referrer_mapping& m) {
  auto normal = normalize_pattern(m.referrer_pattern, m.match_type);
  if (!normal) return field_invalid("referrer_pattern", normal.err().message);
  m.referrer_pattern = std::move(normal->pattern);
  m.regex = std::move(normal->regex);
  return {};
}

}  // namespace referrald::domain
