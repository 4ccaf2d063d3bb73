#include "domain/rules/mapping.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "domain/web/host.hpp"

namespace referrald::domain {

namespace {

const std::initializer_list<std::string_view> k_fields = {
    "referrer_pattern", "match_type", "utm_source",  "utm_medium", "utm_campaign", "utm_term",
    "utm_content",      "label",      "description", "priority",   "is_active"};

// Limits from the seed document.
constexpr std::size_t k_pattern_max = 255;
constexpr std::size_t k_source_max = 255;
constexpr std::size_t k_medium_max = 100;
constexpr std::size_t k_campaign_max = 255;
constexpr std::size_t k_term_max = 255;
constexpr std::size_t k_content_max = 255;
constexpr std::size_t k_label_max = 100;
constexpr std::size_t k_description_max = 500;
constexpr std::int64_t k_priority_min = 0;
constexpr std::int64_t k_priority_max = 1000;

std::optional<match_type> read_match_type(field_reader& in) {
  if (!in.has("match_type")) return std::nullopt;
  auto name = in.optional_string("match_type", 1, 32);
  if (!name) return std::nullopt;
  auto t = match_type_from_string(*name);
  if (!t) {
    in.fail("match_type", "must be one of exact, contains, starts_with, ends_with, regex");
  }
  return t;
}

template <class T>
bool set_if(const std::optional<T>& from, T& to) {
  if (!from || *from == to) return false;
  to = *from;
  return true;
}

}  // namespace

std::string_view to_string(match_type t) {
  switch (t) {
    case match_type::exact:
      return "exact";
    case match_type::contains:
      return "contains";
    case match_type::starts_with:
      return "starts_with";
    case match_type::ends_with:
      return "ends_with";
    case match_type::regex:
      return "regex";
  }
  return "exact";
}

std::optional<match_type> match_type_from_string(std::string_view s) {
  if (s == "exact") return match_type::exact;
  if (s == "contains") return match_type::contains;
  if (s == "starts_with") return match_type::starts_with;
  if (s == "ends_with") return match_type::ends_with;
  if (s == "regex") return match_type::regex;
  return std::nullopt;
}

bool referrer_mapping::matches(std::string_view host) const {
  const std::string& p = referrer_pattern;
  switch (match_type) {
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

bool operator==(const referrer_mapping& a, const referrer_mapping& b) {
  return a.id == b.id && a.referrer_pattern == b.referrer_pattern && a.match_type == b.match_type &&
         a.utm_source == b.utm_source && a.utm_medium == b.utm_medium &&
         a.utm_campaign == b.utm_campaign && a.utm_term == b.utm_term &&
         a.utm_content == b.utm_content && a.label == b.label && a.description == b.description &&
         a.priority == b.priority && a.is_active == b.is_active && a.created_at == b.created_at &&
         a.updated_at == b.updated_at;
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
                      "'" + p +
                          "' is a public suffix (the rule would cover every site under it); "
                          "give a domain registered under it");
  }
  return normalized_pattern{std::move(p), nullptr};
}

result<referrer_mapping> parse_mapping_create(const rapidjson::Value& body) {
  field_reader in(body, k_fields);
  referrer_mapping m;
  auto pattern = in.required_string("referrer_pattern", 1, k_pattern_max);
  auto type = read_match_type(in);
  auto source = in.required_string("utm_source", 1, k_source_max);
  auto medium = in.optional_string("utm_medium", 0, k_medium_max);
  auto campaign = in.optional_string("utm_campaign", 0, k_campaign_max);
  auto term = in.optional_string("utm_term", 0, k_term_max);
  auto content = in.optional_string("utm_content", 0, k_content_max);
  auto label = in.optional_string("label", 0, k_label_max);
  auto description = in.optional_nullable_string("description", k_description_max);
  auto priority = in.optional_int("priority", k_priority_min, k_priority_max);
  auto active = in.optional_bool("is_active");
  bool type_ok = !in.has("match_type") || type.has_value();
  if (pattern && type_ok) {
    auto normal = normalize_pattern(*pattern, type.value_or(match_type::exact));
    if (!normal) {
      in.fail("referrer_pattern", normal.err().message);
    } else {
      m.referrer_pattern = std::move(normal->pattern);
      m.regex = std::move(normal->regex);
    }
  }
  if (auto st = in.finish(); !st) return std::move(st).err();
  if (type) m.match_type = *type;
  m.utm_source = std::move(*source);
  if (medium) m.utm_medium = std::move(*medium);
  if (campaign) m.utm_campaign = std::move(*campaign);
  if (term) m.utm_term = std::move(*term);
  if (content) m.utm_content = std::move(*content);
  if (label) m.label = std::move(*label);
  if (description) m.description = std::move(*description);
  if (priority) m.priority = *priority;
  if (active) m.is_active = *active;
  return m;
}

result<mapping_patch> parse_mapping_patch(const rapidjson::Value& body) {
  field_reader in(body, k_fields);
  mapping_patch p;
  p.referrer_pattern = in.optional_string("referrer_pattern", 1, k_pattern_max);
  p.match_type = read_match_type(in);
  p.utm_source = in.optional_string("utm_source", 1, k_source_max);
  p.utm_medium = in.optional_string("utm_medium", 0, k_medium_max);
  p.utm_campaign = in.optional_string("utm_campaign", 0, k_campaign_max);
  p.utm_term = in.optional_string("utm_term", 0, k_term_max);
  p.utm_content = in.optional_string("utm_content", 0, k_content_max);
  p.label = in.optional_string("label", 0, k_label_max);
  p.description = in.optional_nullable_string("description", k_description_max);
  p.priority = in.optional_int("priority", k_priority_min, k_priority_max);
  p.is_active = in.optional_bool("is_active");
  // A pattern alone is checked against the match type once it is applied to the stored
  // mapping; with both given it can be checked now.
  if (p.referrer_pattern && p.match_type) {
    if (auto n = normalize_pattern(*p.referrer_pattern, *p.match_type); !n) {
      in.fail("referrer_pattern", n.err().message);
    }
  }
  if (auto st = in.finish(); !st) return std::move(st).err();
  return p;
}

result<std::vector<std::string>> apply_patch(referrer_mapping& m, const mapping_patch& p) {
  std::vector<std::string> changed;
  if (p.referrer_pattern || p.match_type) {
    match_type type = p.match_type.value_or(m.match_type);
    // A new match type re-normalizes the stored pattern (as given, for regex: stored).
    std::string raw = p.referrer_pattern.value_or(m.referrer_pattern);
    auto normal = normalize_pattern(raw, type);
    if (!normal) return field_invalid("referrer_pattern", normal.err().message);
    if (normal->pattern != m.referrer_pattern) {
      m.referrer_pattern = std::move(normal->pattern);
      changed.emplace_back("referrer_pattern");
    }
    if (type != m.match_type) {
      m.match_type = type;
      changed.emplace_back("match_type");
    }
    m.regex = type == match_type::regex ? std::move(normal->regex) : nullptr;
  }
  if (set_if(p.utm_source, m.utm_source)) changed.emplace_back("utm_source");
  if (set_if(p.utm_medium, m.utm_medium)) changed.emplace_back("utm_medium");
  if (set_if(p.utm_campaign, m.utm_campaign)) changed.emplace_back("utm_campaign");
  if (set_if(p.utm_term, m.utm_term)) changed.emplace_back("utm_term");
  if (set_if(p.utm_content, m.utm_content)) changed.emplace_back("utm_content");
  if (set_if(p.label, m.label)) changed.emplace_back("label");
  if (set_if(p.description, m.description)) changed.emplace_back("description");
  if (set_if(p.priority, m.priority)) changed.emplace_back("priority");
  if (set_if(p.is_active, m.is_active)) changed.emplace_back("is_active");
  return changed;
}

void write_json(json_writer& w, std::string_view account_id, const referrer_mapping& m) {
  w.StartObject();
  w.Key("id");
  w.Int64(m.id);
  w.Key("account_id");
  write_string(w, account_id);
  w.Key("referrer_pattern");
  write_string(w, m.referrer_pattern);
  w.Key("match_type");
  write_string(w, to_string(m.match_type));
  w.Key("utm_source");
  write_string(w, m.utm_source);
  w.Key("utm_medium");
  write_string(w, m.utm_medium);
  w.Key("utm_campaign");
  write_string(w, m.utm_campaign);
  w.Key("utm_term");
  write_string(w, m.utm_term);
  w.Key("utm_content");
  write_string(w, m.utm_content);
  w.Key("label");
  write_string(w, m.label);
  w.Key("description");
  write_nullable(w, m.description);
  w.Key("priority");
  w.Int64(m.priority);
  w.Key("is_active");
  w.Bool(m.is_active);
  w.Key("created_at");
  write_string(w, format_rfc3339(m.created_at));
  w.Key("updated_at");
  write_string(w, format_rfc3339(m.updated_at));
  w.EndObject();
}

result<referrer_mapping> mapping_from_json(const rapidjson::Value& v) {
  stored_reader in(v, "referrer mapping");
  referrer_mapping m;
  std::string type;
  in.integer("id", m.id);
  in.string("referrer_pattern", m.referrer_pattern);
  in.string("match_type", type);
  in.string("utm_source", m.utm_source);
  in.string("utm_medium", m.utm_medium);
  in.string("utm_campaign", m.utm_campaign);
  in.string("utm_term", m.utm_term);
  in.string("utm_content", m.utm_content);
  in.string("label", m.label);
  in.nullable_string("description", m.description);
  in.integer("priority", m.priority);
  in.boolean("is_active", m.is_active);
  in.timestamp("created_at", m.created_at);
  in.timestamp("updated_at", m.updated_at);
  if (auto st = in.finish(); !st) return std::move(st).err();
  auto t = match_type_from_string(type);
  if (!t) return make_error(errc::internal, "stored referrer mapping: unknown match_type " + type);
  m.match_type = *t;
  if (m.match_type == match_type::regex) {
    auto re = compiled_regex::compile(m.referrer_pattern);
    if (!re) {
      return make_error(errc::internal,
                        "stored referrer mapping: regex no longer compiles: " + re.err().message);
    }
    m.regex = std::move(*re);
  }
  return m;
}

}  // namespace referrald::domain
