#pragma once

// The one URL parser for every URL and host the service reads: referrers and landing URLs
// at resolution, AI push values, and rule domains and patterns. It is the WHATWG URL
// Standard's basic URL parser (what browsers run), reduced to what attribution needs —
// scheme, host, port, path, query, fragment — with one leniency of our own: a value with
// no scheme ("shop.example/x", "localhost:8080") is read as if "http://" preceded it,
// because trackers and analytics exports send bare hosts.
//
// As browsers do: leading and trailing C0 controls and spaces are stripped and tabs and
// newlines removed anywhere; in special schemes (http, https, ws, wss, ftp, file) `\` is
// a `/` ("https://evil.com\@paypal.com/" has host evil.com); credentials end at the last
// `@` of the authority; host bytes are percent-decoded before IDNA ("%65xample.com");
// IPv4 in any notation is canonical ("0x7f.0.0.1", "2130706433" -> 127.0.0.1) and a part
// out of range fails; IPv6 is compressed ("[0:0:0:0:0:0:0:1]" -> "[::1]"); a port that
// is not a number up to 65535 fails the URL; `scheme:` without `//` in a non-special
// scheme ("about:blank", "javascript:...") has no host.
//
// Internationalized names go through UTS #46 as browsers apply it (ICU, the WHATWG
// "domain to ASCII" options) in `browser` mode, so that a name a browser accepts
// ("i❤.ws", "xn--ls8h.la") has the host a browser would report. `strict` mode, for
// rules, also requires the name to be valid IDNA2008 (libidn2) — what DNS registries
// allow — and fails otherwise. Boost.URL parses IPv6 literals; the rest, which Boost.URL
// (RFC 3986) does not do the browsers' way, is here.
//
// Pure functions; safe from any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/base/result.hpp"

namespace referrald::domain {

enum class host_kind : std::uint8_t { none, domain, ipv4, ipv6, opaque };
enum class idna_mode : std::uint8_t { browser, strict };

struct parsed_url {
  std::string scheme;  // lowercase; empty when the input had none (read as http)
  bool special = false;
  host_kind kind = host_kind::none;
  // Serialized: a domain in lowercase ASCII (punycode), IPv4 dotted-decimal, IPv6 in
  // brackets, compressed; an opaque host (non-special schemes) as written. Empty when
  // kind is none.
  std::string host;
  std::optional<std::uint16_t> port;  // absent, or the scheme's default: nullopt
  std::string path;                   // as written (`\` read as `/` in special schemes)
  std::optional<std::string> query;   // after '?', without it
  std::optional<std::string> fragment;
};

// Parses `input`. Fails (validation_failed; the message says why, without the field
// name) where a browser's parser fails: an invalid host (forbidden characters, a bad
// IPv4 or IPv6 literal, an empty host in a special scheme, a name UTS #46 refuses) or an
// invalid port.
result<parsed_url> parse_url(std::string_view input, idna_mode mode = idna_mode::browser);

// The same into `out`, whose strings' storage is reused (for a caller that parses many URLs);
// on a failure `out` holds nothing of use.
status parse_url(std::string_view input, idna_mode mode, parsed_url& out);

// The parts of a URL that reading a visit needs, as views into the URL.
struct url_parts {
  std::string_view host;  // a domain, in lowercase
  std::string_view path;  // as written
  std::optional<std::string_view> query;
};

// The common URL read without parse_url's general machinery: "http://" or "https://", a
// host of lowercase letters, digits, '-' and '.' (no punycode label, no number as its last
// label), an optional port up to 65535, then a path, query and fragment of printable ASCII
// without '\'. True with `out` holding exactly what parse_url gives for the URL's host
// (a domain), path and query; false for any other input, for parse_url to read.
bool read_plain_url(std::string_view input, url_parts& out);

// Decodes %XX escapes (and `+` as a space when `plus_is_space`). Errors on a malformed
// escape or a result that is not valid UTF-8. For API inputs (query strings, path
// parameters), which must be well-formed.
result<std::string> percent_decode(std::string_view s, bool plus_is_space);

// application/x-www-form-urlencoded decoding the lenient way browsers do it, for values
// read from visitors' URLs: `+` is a space, a malformed `%` sequence is kept as written
// ("20%off"), bytes that are not UTF-8 become U+FFFD, and control characters (C0, DEL,
// C1) are removed.
std::string form_decode(std::string_view s);

}  // namespace referrald::domain
