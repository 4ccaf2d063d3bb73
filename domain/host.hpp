#pragma once

// Host normalization (SPEC section 5), shared by passthrough domains, non-regex mapping
// patterns, referrers at resolution time and AI-platform lookups.
//
//   normalize_host(" HTTPS://User@WWW.Bücher.de:8443/path?q#f ") == "xn--bcher-kva.de"
//
// Steps, in order: trim; ASCII-lowercase; strip a scheme (`^[a-z][a-z0-9+.-]*://`, or a
// scheme-relative `//`); drop everything from the first `/`, `?` or `#`; drop userinfo
// (up to the last `@`) and a `:port`; drop one trailing `.`; convert an internationalized
// name to its ASCII (punycode) form with libidn2 (UTS #46 mapping, which also lowercases);
// drop one leading `www.` when a dot remains after it (so `www.com` stays `www.com`).
// Pure functions; safe to call from any thread.

#include <string>
#include <string_view>

#include "domain/result.hpp"

namespace referrald::domain {

// The normalized host, or a validation error (without a field name; callers attach it)
// when nothing is left or an internationalized name cannot be converted.
result<std::string> normalize_host(std::string_view raw);

// DNS host name rules for a stored domain: labels of 1–63 chars of [a-z0-9-] that neither
// start nor end with '-', at least two labels, at most 253 chars in all. Expects a
// normalized (lowercase, ASCII) host.
bool is_valid_hostname(std::string_view host);

// True when `host` equals `domain` or is a subdomain of it (label boundary):
// host_matches_domain("secure.paypal.com", "paypal.com") but not "notpaypal.com".
bool host_matches_domain(std::string_view host, std::string_view domain);

}  // namespace referrald::domain
