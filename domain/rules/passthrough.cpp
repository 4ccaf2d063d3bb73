#include "domain/rules/passthrough.hpp"

#include "domain/base/text.hpp"
#include "domain/web/host.hpp"

namespace referrald::domain {

result<std::string> normalize_domain(std::string_view raw) {
  auto host = normalize_host(raw, idna_mode::strict);
  if (!host) return std::move(host).err();
  if (!is_valid_hostname(*host)) {
    return make_error(errc::validation_failed,
                      "'" + excerpt(*host) +
                          "' is not a valid domain name (labels of letters, digits and "
                          "hyphens, at least two labels, at most 253 characters)");
  }
  if (is_public_suffix(*host)) {
    return make_error(errc::validation_failed,
                      "'" + excerpt(*host) +
                          "' is a public suffix (a rule for it would cover every site under "
                          "it); give a domain registered under it");
  }
  return std::move(*host);
}

std::span<const schema::field<passthrough_referrer>> passthrough_fields() {
  using schema::field, schema::type, schema::required, schema::server;
  using R = passthrough_referrer;
  // Limits of the API (docs/openapi.json is generated from this table). Tags are stored: never
  // reuse or renumber one.
  static const field<R> fields[] = {
      {"id", 1, type::integer, &R::id, server},
      {"account_id", 0, type::string, std::monostate{}, server},
      {"domain", 2, type::string, &R::domain, required, 1, 255, &normalize_domain},
      {"utm_source", 3, type::string, &R::utm_source, required, 1, 255},
      {"utm_medium", 4, type::string, &R::utm_medium, 0, 0, 100},
      {"utm_campaign", 5, type::string, &R::utm_campaign, 0, 0, 255},
      {"utm_term", 6, type::string, &R::utm_term, 0, 0, 255},
      {"service_name", 7, type::nullable_string, &R::service_name, 0, 0, 100},
      {"is_active", 8, type::boolean, &R::is_active},
      {"created_at", 9, type::timestamp, &R::created_at, server},
      {"updated_at", 10, type::timestamp, &R::updated_at, server},
  };
  return fields;
}

}  // namespace referrald::domain
