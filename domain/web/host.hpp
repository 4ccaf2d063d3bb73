#pragma once

// Host normalization (shared by passthrough domains, non-regex mapping patterns,
// referrers at resolution time and AI-platform lookups), on top of the one URL parser
// (domain/web/url.hpp):
//
//   normalize_host(" HTTPS://User@WWW.Bücher.de:8443/path?q#f ", ...) == "xn--bcher-kva.de"
//
// The host a browser reads from the value — credentials, port, path, query and fragment
// dropped; a domain lowercased and in punycode, IPv4 canonical, IPv6 compressed, an
// opaque host (android-app://com.openai.chatgpt) lowercased — then one trailing '.'
// dropped, then one leading "www." dropped unless what remains is a public suffix
// ("www.github.io" and "www.com" stay as they are). A value without a scheme is a host
// ("shop.example/x"); `scheme:` without `//` in a non-special scheme ("about:blank") has
// no host, which is an error here.
//
// Pure functions; safe to call from any thread.

#include <string>
#include <string_view>

#include "domain/base/result.hpp"
#include "domain/web/url.hpp"

namespace referrald::domain {

enum class trailing_dot : std::uint8_t { drop, keep };

// The normalized host, or a validation error (without a field name; callers attach it)
// when the value has no host a browser can read. `strict` (rules) also requires valid
// IDNA2008; `browser` (visits) accepts what browsers accept. `keep` leaves a trailing dot
// (starts_with patterns, where it is meaningful).
result<std::string> normalize_host(std::string_view raw, idna_mode mode,
                                   trailing_dot dot = trailing_dot::drop);

// The normalized host of an already parsed URL (the steps above after parsing); empty
// when it has none.
std::string normalized_host(parsed_url&& url, trailing_dot dot = trailing_dot::drop);

// normalize_host's answer for a URL already parsed: its normalized host, or why it has none
// ("has no host name"...). For a caller that keeps other parts of the URL (move them out
// first).
result<std::string> host_of(parsed_url&& url, trailing_dot dot = trailing_dot::drop);

// The same two as views into url.host (lowercased there first for an opaque host), valid
// while `url` is unchanged: for a caller that parses into one parsed_url again and again.
std::string_view normalized_host_in(parsed_url& url, trailing_dot dot = trailing_dot::drop);
result<std::string_view> host_in(parsed_url& url, trailing_dot dot = trailing_dot::drop);

// The normalized form of a domain host as parse_url serializes it (the steps above after
// parsing): a view into `domain`.
std::string_view normalized_domain(std::string_view domain, trailing_dot dot = trailing_dot::drop);

// DNS host name rules for a stored domain: labels of 1–63 chars of [a-z0-9-] that neither
// start nor end with '-', at least two labels, at most 253 chars in all. Expects a
// normalized (lowercase, ASCII) host.
bool is_valid_hostname(std::string_view host);

// True when `host` is a public suffix ("com", "co.uk", "github.io") by an explicit rule of
// the Public Suffix List (libpsl): a rule for it would cover unrelated sites.
bool is_public_suffix(std::string_view host);

// The registrable domain of `host` (normalized): its public suffix and one label more, by
// the Public Suffix List ("shop.example.co.uk" -> "example.co.uk"); the host itself when it
// has none (an IP address, a public suffix, a single label).
std::string registrable_domain(std::string_view host);

// True when `host` equals `domain` or is a subdomain of it (label boundary):
// host_matches_domain("secure.paypal.com", "paypal.com") but not "notpaypal.com".
bool host_matches_domain(std::string_view host, std::string_view domain);

}  // namespace referrald::domain
