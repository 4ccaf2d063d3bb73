#pragma once

// The passthrough starter pack: a versioned list of domains that must not take a visit's
// attribution (payment providers, 3-D Secure pages, sign-in providers, hotel booking
// engines), each with the public source that names it. Data in
// domain/rules/data/passthrough_starter_pack.json, compiled in.

#include <string>
#include <string_view>
#include <vector>

#include "domain/base/result.hpp"
#include "domain/rules/passthrough.hpp"
#include "domain/web/site_catalogue.hpp"

namespace referrald::domain {

// {"version":..,"entries":[{"domain","service_name","category","utm_source","source"}..]}
// as the API shows it.
const std::string& starter_pack_json();

struct starter_pack_entry {
  std::string domain;  // normalized, as the rule's
  std::string service_name, category, utm_source;
};

// The entry whose domain is `host` (normalized) or a parent domain of it, matched as the
// site catalogue matches hosts (domain/web/site_catalogue.hpp); nullptr when none is.
const starter_pack_entry* starter_pack_entry_of(std::string_view host);

// The pack's version ("2026-11-22").
const std::string& starter_pack_version();

// The pack as passthrough referrers (validated as create bodies are), in file order; an
// error naming the entry when one does not validate (a test keeps the file valid).
result<std::vector<passthrough_referrer>> starter_pack_rules();

}  // namespace referrald::domain
