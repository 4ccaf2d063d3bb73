#include "domain/rules/passthrough.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "domain/web/host.hpp"

namespace referrald::domain {

namespace {

const std::initializer_list<std::string_view> k_fields = {
    "domain", "utm_source", "utm_medium", "utm_campaign", "utm_term", "service_name", "is_active"};

// Limits from the seed document.
constexpr std::size_t k_domain_max = 255;
constexpr std::size_t k_source_max = 255;
constexpr std::size_t k_medium_max = 100;
constexpr std::size_t k_campaign_max = 255;
constexpr std::size_t k_term_max = 255;
constexpr std::size_t k_service_name_max = 100;

std::optional<std::string> read_domain(field_reader& in, bool required) {
  auto raw = required ? in.required_string("domain", 1, k_domain_max)
                      : in.optional_string("domain", 1, k_domain_max);
  if (!raw) return std::nullopt;
  auto host = normalize_host(*raw, idna_mode::strict);
  if (!host) {
    in.fail("domain", host.err().message);
    return std::nullopt;
  }
  if (!is_valid_hostname(*host)) {
    in.fail("domain", "'" + *host +
                          "' is not a valid domain name (labels of letters, digits and "
                          "hyphens, at least two labels, at most 253 characters)");
    return std::nullopt;
  }
  if (is_public_suffix(*host)) {
    in.fail("domain", "'" + *host +
                          "' is a public suffix (a rule for it would cover every site under "
                          "it); give a domain registered under it");
    return std::nullopt;
  }
  return std::move(*host);
}

template <class T>
bool set_if(std::optional<T> const& from, T& to) {
  if (!from || *from == to) return false;
  to = *from;
  return true;
}

}  // namespace

result<passthrough_referrer> parse_passthrough_create(const rapidjson::Value& body) {
  field_reader in(body, k_fields);
  passthrough_referrer r;
  auto domain = read_domain(in, true);
  auto source = in.required_string("utm_source", 1, k_source_max);
  auto medium = in.optional_string("utm_medium", 0, k_medium_max);
  auto campaign = in.optional_string("utm_campaign", 0, k_campaign_max);
  auto term = in.optional_string("utm_term", 0, k_term_max);
  auto service = in.optional_nullable_string("service_name", k_service_name_max);
  auto active = in.optional_bool("is_active");
  if (auto st = in.finish(); !st) return std::move(st).err();
  r.domain = std::move(*domain);
  r.utm_source = std::move(*source);
  if (medium) r.utm_medium = std::move(*medium);
  if (campaign) r.utm_campaign = std::move(*campaign);
  if (term) r.utm_term = std::move(*term);
  if (service) r.service_name = std::move(*service);
  if (active) r.is_active = *active;
  return r;
}

result<passthrough_patch> parse_passthrough_patch(const rapidjson::Value& body) {
  field_reader in(body, k_fields);
  passthrough_patch p;
  p.domain = read_domain(in, false);
  p.utm_source = in.optional_string("utm_source", 1, k_source_max);
  p.utm_medium = in.optional_string("utm_medium", 0, k_medium_max);
  p.utm_campaign = in.optional_string("utm_campaign", 0, k_campaign_max);
  p.utm_term = in.optional_string("utm_term", 0, k_term_max);
  p.service_name = in.optional_nullable_string("service_name", k_service_name_max);
  p.is_active = in.optional_bool("is_active");
  if (auto st = in.finish(); !st) return std::move(st).err();
  return p;
}

std::vector<std::string> apply_patch(passthrough_referrer& r, const passthrough_patch& p) {
  std::vector<std::string> changed;
  if (set_if(p.domain, r.domain)) changed.emplace_back("domain");
  if (set_if(p.utm_source, r.utm_source)) changed.emplace_back("utm_source");
  if (set_if(p.utm_medium, r.utm_medium)) changed.emplace_back("utm_medium");
  if (set_if(p.utm_campaign, r.utm_campaign)) changed.emplace_back("utm_campaign");
  if (set_if(p.utm_term, r.utm_term)) changed.emplace_back("utm_term");
  if (set_if(p.service_name, r.service_name)) changed.emplace_back("service_name");
  if (set_if(p.is_active, r.is_active)) changed.emplace_back("is_active");
  return changed;
}

void write_json(json_writer& w, std::string_view account_id, const passthrough_referrer& r) {
  w.StartObject();
  w.Key("id");
  w.Int64(r.id);
  w.Key("account_id");
  write_string(w, account_id);
  w.Key("domain");
  write_string(w, r.domain);
  w.Key("utm_source");
  write_string(w, r.utm_source);
  w.Key("utm_medium");
  write_string(w, r.utm_medium);
  w.Key("utm_campaign");
  write_string(w, r.utm_campaign);
  w.Key("utm_term");
  write_string(w, r.utm_term);
  w.Key("service_name");
  write_nullable(w, r.service_name);
  w.Key("is_active");
  w.Bool(r.is_active);
  w.Key("created_at");
  write_string(w, format_rfc3339(r.created_at));
  w.Key("updated_at");
  write_string(w, format_rfc3339(r.updated_at));
  w.EndObject();
}

result<passthrough_referrer> passthrough_from_json(const rapidjson::Value& v) {
  stored_reader in(v, "passthrough referrer");
  passthrough_referrer r;
  in.integer("id", r.id);
  in.string("domain", r.domain);
  in.string("utm_source", r.utm_source);
  in.string("utm_medium", r.utm_medium);
  in.string("utm_campaign", r.utm_campaign);
  in.string("utm_term", r.utm_term);
  in.nullable_string("service_name", r.service_name);
  in.boolean("is_active", r.is_active);
  in.timestamp("created_at", r.created_at);
  in.timestamp("updated_at", r.updated_at);
  if (auto st = in.finish(); !st) return std::move(st).err();
  return r;
}

}  // namespace referrald::domain
