#include "domain/web/url.hpp"

#include <idn2.h>
#include <unicode/uidna.h>

#include <algorithm>
#include <array>
#include <boost/url/ipv6_address.hpp>
#include <cstring>

#include "domain/base/text.hpp"

namespace referrald::domain {

namespace {

error fail(std::string why) { return make_error(errc::validation_failed, std::move(why)); }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_scheme_char(char c) {
  return is_alpha(c) || is_digit(c) || c == '+' || c == '.' || c == '-';
}

// The scheme's default port, or -1 (WHATWG "special scheme").
int special_port(std::string_view scheme) {
  if (scheme == "http" || scheme == "ws") return 80;
  if (scheme == "https" || scheme == "wss") return 443;
  if (scheme == "ftp") return 21;
  if (scheme == "file") return 0;
  return -1;
}

// WHATWG "forbidden host code point" (opaque hosts may contain '%').
constexpr bool forbidden_host(unsigned char c) {
  switch (c) {
    case 0x00:
    case '\t':
    case '\n':
    case '\r':
    case ' ':
    case '#':
    case '/':
    case ':':
    case '<':
    case '>':
    case '?':
    case '@':
    case '[':
    case '\\':
    case ']':
    case '^':
    case '|':
      return true;
    default:
      return false;
  }
}

// WHATWG "forbidden domain code point".
constexpr bool forbidden_domain(unsigned char c) {
  return forbidden_host(c) || c <= 0x1F || c == '%' || c == 0x7F;
}

// Strips leading and trailing C0 controls and spaces, and removes tabs and newlines.
std::string clean_input(std::string_view in) {
  std::size_t b = 0, e = in.size();
  while (b < e && static_cast<unsigned char>(in[b]) <= 0x20)
    ++b;
  while (e > b && static_cast<unsigned char>(in[e - 1]) <= 0x20)
    --e;
  std::string out;
  out.reserve(e - b);
  for (std::size_t i = b; i < e; ++i) {
    char c = in[i];
    if (c != '\t' && c != '\n' && c != '\r') out.push_back(c);
  }
  return out;
}

// Percent-decodes leniently: a '%' not followed by two hex digits stays as it is.
std::string percent_decode_lenient(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      int hi = hex_value(s[i + 1]);
      int lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi << 4 | lo));
        i += 2;
        continue;
      }
    }
    out.push_back(c == '+' && plus_is_space ? ' ' : c);
  }
  return out;
}

// WHATWG "IPv4 number parser": decimal, 0x hexadecimal or 0-prefixed octal.
std::optional<std::uint64_t> ipv4_number(std::string_view s) {
  if (s.empty()) return std::nullopt;
  unsigned radix = 10;
  if (s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    radix = 16;
    s.remove_prefix(2);
  } else if (s.size() >= 2 && s[0] == '0') {
    radix = 8;
    s.remove_prefix(1);
  }
  if (s.empty()) return 0;
  // Every character is a digit of the radix, or this is no number at all (a label such as
  // 111...1b is a domain label, however many digits come before its last character).
  for (char c : s) {
    int d = hex_value(c);
    if (d < 0 || static_cast<unsigned>(d) >= radix) return std::nullopt;
  }
  std::uint64_t v = 0;
  for (char c : s) {
    if (v > (std::uint64_t{1} << 40)) return std::uint64_t{1} << 41;  // far past any limit
    v = v * radix + static_cast<unsigned>(hex_value(c));
  }
  return v;
}

std::vector<std::string_view> split_dots(std::string_view s) {
  std::vector<std::string_view> parts;
  for (;;) {
    auto dot = s.find('.');
    parts.push_back(s.substr(0, dot));
    if (dot == std::string_view::npos) break;
    s.remove_prefix(dot + 1);
  }
  return parts;
}

// WHATWG "ends in a number checker": the last label (a trailing dot ignored) is digits or
// an IPv4 number.
bool ends_in_a_number(std::string_view domain) {
  if (domain.empty()) return false;
  if (domain.back() == '.') domain.remove_suffix(1);
  std::string_view last = domain.substr(domain.rfind('.') + 1);
  // A number, decimal, octal or hexadecimal ("0x..."), starts with a digit: a label that
  // does not (almost every domain's last) is no number.
  if (last.empty() || !is_digit(last.front())) return false;
  if (std::all_of(last.begin(), last.end(), is_digit)) return true;
  return ipv4_number(last).has_value();
}

// WHATWG "IPv4 parser": the dotted-decimal serialization, or a failure.
result<std::string> parse_ipv4(std::string_view domain) {
  auto parts = split_dots(domain);
  if (parts.back().empty() && parts.size() > 1) parts.pop_back();
  if (parts.size() > 4) return fail("is not a valid IPv4 address (more than four parts)");
  std::array<std::uint64_t, 4> numbers{};
  for (std::size_t i = 0; i < parts.size(); ++i) {
    auto n = ipv4_number(parts[i]);
    if (!n) return fail("is not a valid IPv4 address");
    numbers[i] = *n;
  }
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    if (numbers[i] > 255) return fail("is not a valid IPv4 address (a part is over 255)");
  }
  std::uint64_t last = numbers[parts.size() - 1];
  if (last >= (std::uint64_t{1} << (8 * (5 - parts.size())))) {
    return fail("is not a valid IPv4 address (a part is out of range)");
  }
  std::uint64_t ipv4 = last;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i)
    ipv4 += numbers[i] << (8 * (3 - i));
  std::string out;
  for (int shift = 24; shift >= 0; shift -= 8) {
    if (!out.empty()) out.push_back('.');
    out += std::to_string((ipv4 >> shift) & 0xFF);
  }
  return out;
}

// An IPv6 literal (without brackets), serialized as WHATWG does: lowercase hexadecimal
// pieces, the first longest run of two or more zero pieces compressed to "::".
result<std::string> parse_ipv6(std::string_view inner) {
  auto parsed = boost::urls::parse_ipv6_address(inner);
  if (!parsed) return fail("is not a valid IPv6 address");
  auto bytes = parsed->to_bytes();
  std::array<unsigned, 8> pieces{};
  for (std::size_t i = 0; i < 8; ++i)
    pieces[i] = static_cast<unsigned>(bytes[2 * i]) << 8 | bytes[2 * i + 1];
  std::size_t best_at = 8, best_len = 1;
  for (std::size_t i = 0; i < 8;) {
    if (pieces[i] != 0) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < 8 && pieces[j] == 0)
      ++j;
    if (j - i > best_len) {
      best_at = i;
      best_len = j - i;
    }
    i = j;
  }
  std::string out = "[";
  static constexpr char digits[] = "0123456789abcdef";
  for (std::size_t i = 0; i < 8; ++i) {
    if (i == best_at) {
      out += i == 0 ? "::" : ":";
      i += best_len - 1;
      continue;
    }
    char buf[5];
    int n = 0;
    bool started = false;
    for (int shift = 12; shift >= 0; shift -= 4) {
      unsigned d = (pieces[i] >> shift) & 0xF;
      if (d != 0 || started || shift == 0) {
        buf[n++] = digits[d];
        started = true;
      }
    }
    out.append(buf, static_cast<std::size_t>(n));
    if (i != 7) out.push_back(':');
  }
  out.push_back(']');
  return out;
}

// UTS #46 ToASCII with the WHATWG "domain to ASCII" options (beStrict false): hyphen
// rules and DNS lengths are not checked.
result<std::string> uts46_to_ascii(const std::string& domain) {
  static const UIDNA* idna = [] {
    UErrorCode e = U_ZERO_ERROR;
    return uidna_openUTS46(UIDNA_CHECK_BIDI | UIDNA_CHECK_CONTEXTJ |
                               UIDNA_NONTRANSITIONAL_TO_ASCII | UIDNA_NONTRANSITIONAL_TO_UNICODE,
                           &e);
  }();
  if (idna == nullptr) return fail("cannot be converted (IDNA is unavailable)");
  constexpr std::uint32_t ignored = UIDNA_ERROR_EMPTY_LABEL | UIDNA_ERROR_LABEL_TOO_LONG |
                                    UIDNA_ERROR_DOMAIN_NAME_TOO_LONG | UIDNA_ERROR_LEADING_HYPHEN |
                                    UIDNA_ERROR_TRAILING_HYPHEN | UIDNA_ERROR_HYPHEN_3_4;
  std::string out(domain.size() * 4 + 64, '\0');
  UIDNAInfo info = UIDNA_INFO_INITIALIZER;
  UErrorCode err = U_ZERO_ERROR;
  int32_t n = uidna_nameToASCII_UTF8(idna, domain.data(), static_cast<int32_t>(domain.size()),
                                     out.data(), static_cast<int32_t>(out.size()), &info, &err);
  if (U_FAILURE(err) || n < 0 || (info.errors & ~ignored) != 0) {
    return fail("is not a valid internationalized domain name");
  }
  out.resize(static_cast<std::size_t>(n));
  return out;
}

bool has_a_label(std::string_view ascii) {
  for (std::size_t start = 0; start < ascii.size();) {
    std::string_view label = ascii.substr(start, ascii.find('.', start) - start);
    if (label.size() >= 4 && (label[0] == 'x' || label[0] == 'X') &&
        (label[1] == 'n' || label[1] == 'N') && label[2] == '-' && label[3] == '-') {
      return true;
    }
    start += label.size() + 1;
  }
  return false;
}

// IDNA2008 (libidn2): what registries allow. `unicode` is the decoded host as given; the
// ASCII result must be the one UTS #46 gave.
status check_idna2008(const std::string& unicode, const std::string& ascii) {
  if (is_ascii(unicode)) {
    if (!has_a_label(ascii)) return {};
    // Punycode given directly must decode to a valid name that encodes back to itself.
    char* decoded = nullptr;
    int rc = idn2_to_unicode_8z8z(ascii.c_str(), &decoded, 0);
    if (rc != IDN2_OK) {
      return fail(std::string("has an invalid punycode label (") + idn2_strerror(rc) + ")");
    }
    char* back = nullptr;
    rc = idn2_to_ascii_8z(decoded, &back, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    idn2_free(decoded);
    bool same = rc == IDN2_OK && to_lower_ascii(back) == ascii;
    if (rc == IDN2_OK) idn2_free(back);
    if (!same) return fail("has a punycode label that is not a valid internationalized name");
    return {};
  }
  char* out = nullptr;
  int rc = idn2_to_ascii_8z(unicode.c_str(), &out, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
  if (rc != IDN2_OK) {
    return fail(std::string("is not a valid internationalized domain name (") + idn2_strerror(rc) +
                ")");
  }
  std::string converted = to_lower_ascii(out);
  idn2_free(out);
  if (!converted.empty() && converted.back() == '.' && (ascii.empty() || ascii.back() != '.')) {
    converted.pop_back();
  }
  if (converted != ascii) return fail("is not a valid internationalized domain name");
  return {};
}

// True when `input` is ASCII without '%', without a byte forbidden in a domain and without
// a label starting "xn--" (any case); `out` is then `input` in lowercase.
bool lowercase_simple_domain(std::string_view input, std::string& out) {
  // Each byte's lowercase, or 0 for a byte a simple domain may not hold (not ASCII, or
  // forbidden in a domain: 0 is).
  static constexpr std::array<unsigned char, 256> k_lower = [] {
    std::array<unsigned char, 256> lower{};
    for (unsigned c = 1; c < 0x80; ++c) {
      if (forbidden_domain(static_cast<unsigned char>(c))) continue;
      lower[c] = static_cast<unsigned char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    return lower;
  }();
  out.resize(input.size());
  char* o = out.data();
  bool label_start = true;
  for (std::size_t i = 0; i < input.size(); ++i) {
    const unsigned char c = k_lower[static_cast<unsigned char>(input[i])];
    if (c == 0) return false;
    o[i] = static_cast<char>(c);
    if (label_start && c == 'x' && i + 3 < input.size() && (input[i + 1] | 0x20) == 'n' &&
        input[i + 2] == '-' && input[i + 3] == '-') {
      return false;
    }
    label_start = c == '.';
  }
  return true;
}

// WHATWG "host parser" for special schemes, past the common case: an IPv6 literal, an IPv4
// address, or a domain to decode or convert.
result<std::string> parse_special_host(std::string_view input, idna_mode mode, host_kind& kind);

// WHATWG "host parser" for special schemes, into `out` (its storage reused): the common host
// (ASCII, nothing to decode, no number) without a string of its own, any other through
// parse_special_host.
status parse_special_host_into(std::string_view input, idna_mode mode, host_kind& kind,
                               std::string& out) {
  // Most hosts are ASCII with no escape, no punycode label and no byte a domain may not
  // hold: their domain is the host in lowercase, and neither decoding nor IDNA nor the
  // checks of parse_special_host have anything to do. One pass finds out and lowercases.
  if (!input.empty() && input.front() != '[' && lowercase_simple_domain(input, out)) {
    if (!ends_in_a_number(out)) {
      kind = host_kind::domain;
      return {};
    }
  }
  auto host = parse_special_host(input, mode, kind);
  if (!host) return std::move(host).err();
  out = std::move(*host);
  return {};
}

result<std::string> parse_special_host(std::string_view input, idna_mode mode, host_kind& kind) {
  if (input.empty()) return fail("has no host name");
  if (input.front() == '[') {
    if (input.back() != ']' || input.size() < 2) return fail("has an unclosed IPv6 literal");
    kind = host_kind::ipv6;
    return parse_ipv6(input.substr(1, input.size() - 2));
  }
  // A simple host that is no number was answered by parse_special_host_into; a simple one
  // that ends in a number takes the plain path below, to the IPv4 parser.
  std::string ascii;
  const bool plain = std::none_of(input.begin(), input.end(), [](char c) {
    return c == '%' || static_cast<unsigned char>(c) >= 0x80;
  });
  if (plain && !has_a_label(input)) {
    ascii = to_lower_ascii(input);
  } else {
    std::string domain = percent_decode_lenient(input, false);
    if (!is_valid_utf8(domain)) return fail("is not valid UTF-8 once percent-decoded");
    if (is_ascii(domain) && !has_a_label(domain)) {
      ascii = to_lower_ascii(domain);
    } else {
      auto converted = uts46_to_ascii(domain);
      if (!converted) return std::move(converted).err();
      ascii = std::move(*converted);
      if (mode == idna_mode::strict) {
        if (auto st = check_idna2008(domain, ascii); !st) return std::move(st).err();
      }
    }
  }
  if (ascii.empty()) return fail("has no host name");
  for (char c : ascii) {
    if (forbidden_domain(static_cast<unsigned char>(c))) {
      if (c == ' ') return fail("contains a space");
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
        return fail("contains a control character");
      }
      return fail(std::string("contains '") + c + "', which no host name may contain");
    }
  }
  if (ends_in_a_number(ascii)) {
    kind = host_kind::ipv4;
    return parse_ipv4(ascii);
  }
  kind = host_kind::domain;
  return ascii;
}

// WHATWG "opaque-host parser" (non-special schemes): kept as written.
result<std::string> parse_opaque_host(std::string_view input, host_kind& kind) {
  if (input.empty()) {
    kind = host_kind::none;
    return std::string();
  }
  if (input.front() == '[') {
    if (input.back() != ']' || input.size() < 2) return fail("has an unclosed IPv6 literal");
    kind = host_kind::ipv6;
    return parse_ipv6(input.substr(1, input.size() - 2));
  }
  for (char c : input) {
    auto u = static_cast<unsigned char>(c);
    if (forbidden_host(u) || u <= 0x1F || u == 0x7F) {
      return fail(u <= 0x20 || u == 0x7F
                      ? std::string("contains a control character or space")
                      : std::string("contains '") + c + "', which no host name may contain");
    }
  }
  kind = host_kind::opaque;
  return std::string(input);
}

// `rest` (what follows the host, or a whole path-only URL) into u's path, query and fragment.
void split_path_query_fragment(std::string_view rest, parsed_url& u) {
  if (auto hash = rest.find('#'); hash != std::string_view::npos) {
    assign_optional(u.fragment, rest.substr(hash + 1));
    rest = rest.substr(0, hash);
  }
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    assign_optional(u.query, rest.substr(q + 1));
    rest = rest.substr(0, q);
  }
  u.path.assign(rest);
}

// The bytes that end or divide an authority.
constexpr std::array<bool, 256> k_authority_marks = [] {
  std::array<bool, 256> marks{};
  for (char c : std::string_view("/?#\\@[]:"))
    marks[static_cast<unsigned char>(c)] = true;
  return marks;
}();

// Everything after "scheme:" of a URL with an authority (`s` starts at the authority).
status parse_authority_and_rest(std::string_view s, bool special, idna_mode mode, parsed_url& u) {
  // One pass to the authority's end ('/', '?', '#', and '\\' in a special URL): the last '@'
  // (what precedes it is user information) and the first ':' after it outside brackets
  // (an IPv6 literal's colons belong to the host) divide it into host and port.
  constexpr std::size_t none = std::string_view::npos;
  std::size_t end = 0;
  std::size_t at = none;
  std::size_t colon = none;
  bool brackets = false;
  for (; end < s.size(); ++end) {
    auto c = static_cast<unsigned char>(s[end]);
    if (!k_authority_marks[c]) continue;
    if (c == '/' || c == '?' || c == '#' || (special && c == '\\')) break;
    if (c == '@') {
      at = end;
      colon = none;
      brackets = false;
    } else if (c == '[') {
      brackets = true;
    } else if (c == ']') {
      brackets = false;
    } else if (c == ':' && !brackets && colon == none) {
      colon = end;
    }
  }
  std::string_view rest = s.substr(end);
  const std::size_t host_start = at == none ? 0 : at + 1;
  std::string_view host = s.substr(host_start, (colon == none ? end : colon) - host_start);
  std::optional<std::string_view> port;
  if (colon != none) port = s.substr(colon + 1, end - colon - 1);
  if (port && !port->empty()) {
    std::uint64_t p = 0;
    for (char c : *port) {
      if (!is_digit(c)) return fail("has a port that is not a number");
      p = p * 10 + static_cast<unsigned>(c - '0');
      if (p > 65535) return fail("has a port above 65535");
    }
    if (static_cast<int>(p) != special_port(u.scheme)) u.port = static_cast<std::uint16_t>(p);
  }
  if (u.scheme == "file") {
    if (!host.empty() && host != "localhost") {
      if (auto st = parse_special_host_into(host, mode, u.kind, u.host); !st) return st;
    }
  } else if (special) {
    if (auto st = parse_special_host_into(host, mode, u.kind, u.host); !st) return st;
  } else {
    auto h = parse_opaque_host(host, u.kind);
    if (!h) return std::move(h).err();
    u.host = std::move(*h);
  }
  split_path_query_fragment(rest, u);
  if (special) std::replace(u.path.begin(), u.path.end(), '\\', '/');
  return {};
}

}  // namespace

status parse_url(std::string_view input, idna_mode mode, parsed_url& u) {
  u.scheme.clear();
  u.special = false;
  u.kind = host_kind::none;
  u.host.clear();
  u.port.reset();
  u.path.clear();
  u.query.reset();
  u.fragment.reset();
  // Copied only when there is something to remove.
  const bool clean =
      input.empty() || (static_cast<unsigned char>(input.front()) > 0x20 &&
                        static_cast<unsigned char>(input.back()) > 0x20 &&
                        find_first_of<'\t', '\n', '\r'>(input) == std::string_view::npos);
  std::string cleaned;
  if (!clean) cleaned = clean_input(input);
  std::string_view s = clean ? input : std::string_view(cleaned);
  std::size_t colon = std::string_view::npos;
  if (!s.empty() && is_alpha(s[0])) {
    std::size_t i = 1;
    while (i < s.size() && is_scheme_char(s[i]))
      ++i;
    if (i < s.size() && s[i] == ':') colon = i;
  }
  bool bare = colon == std::string_view::npos;
  if (!bare) {
    std::string& scheme = u.scheme;
    scheme.assign(s.substr(0, colon));
    for (char& c : scheme) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    std::string_view after = s.substr(colon + 1);
    bool special = special_port(scheme) >= 0;
    if (!special && !after.starts_with("//")) {
      // "host:port..." is a bare host with a port, not a scheme.
      std::size_t digits = 0;
      while (digits < after.size() && is_digit(after[digits]))
        ++digits;
      bool port_like = digits == after.size() || after[digits] == '/' || after[digits] == '?' ||
                       after[digits] == '#';
      if (port_like) {
        bare = true;
      } else {
        // An opaque path ("about:blank", "javascript:..."): no host.
        split_path_query_fragment(after, u);
        return {};
      }
    }
    if (!bare) {
      u.special = special;
      if (u.scheme == "file") {
        // "file://host/path": the authority follows two slashes at most.
        for (int i = 0; i < 2 && !after.empty() && (after.front() == '/' || after.front() == '\\');
             ++i)
          after.remove_prefix(1);
      } else if (special) {
        // Any number of slashes or backslashes lead to the authority.
        while (!after.empty() && (after.front() == '/' || after.front() == '\\'))
          after.remove_prefix(1);
      } else {
        after.remove_prefix(2);
      }
      return parse_authority_and_rest(after, special, mode, u);
    }
    u.scheme.clear();
  }
  // No scheme: as if "http://" preceded the value ("//host" included); a single leading
  // slash starts a path ("/pricing"), which has no host.
  auto slash = [](char c) {
    return c == '/' || c == '\\';
  };
  if (!s.empty() && slash(s[0]) && (s.size() == 1 || !slash(s[1]))) {
    split_path_query_fragment(s, u);
    return {};
  }
  u.special = true;
  u.scheme = "http";
  while (!s.empty() && (s.front() == '/' || s.front() == '\\'))
    s.remove_prefix(1);
  if (auto st = parse_authority_and_rest(s, true, mode, u); !st) return st;
  u.scheme.clear();
  return {};
}

bool read_plain_url(std::string_view input, url_parts& out) {
  std::string_view s = input;
  if (s.starts_with("https://")) {
    s.remove_prefix(8);
  } else if (s.starts_with("http://")) {
    s.remove_prefix(7);
  } else {
    return false;
  }
  // Bytes of a host: 1, of the rest of an authority: 2 (':' and digits), of a path, query
  // or fragment: 4 (printable ASCII but '\\').
  static constexpr std::array<std::uint8_t, 256> k_class = [] {
    std::array<std::uint8_t, 256> c{};
    for (unsigned b = 0x21; b < 0x7F; ++b)
      c[b] = b == '\\' ? 0 : 4;
    for (unsigned b = 'a'; b <= 'z'; ++b)
      c[b] |= 1;
    for (unsigned b = '0'; b <= '9'; ++b)
      c[b] |= 1 | 2;
    c['-'] |= 1;
    c['.'] |= 1;
    c[':'] |= 2;
    return c;
  }();
  std::size_t end = 0;  // of the host
  while (end < s.size() && (k_class[static_cast<unsigned char>(s[end])] & 1) != 0)
    ++end;
  std::string_view host = s.substr(0, end);
  // A label starts with a letter or digit: no empty label, no leading '.', no trailing one.
  if (host.empty() || host.front() == '.' || host.front() == '-' || host.back() == '.' ||
      host.find("..") != std::string_view::npos || ends_in_a_number(host)) {
    return false;
  }
  for (std::size_t at = 0; (at = host.find("xn--", at)) != std::string_view::npos; at += 4) {
    if (at == 0 || host[at - 1] == '.') return false;
  }
  std::size_t rest = end;
  if (rest < s.size() && s[rest] == ':') {
    std::uint32_t port = 0;
    for (++rest; rest < s.size() && is_digit(s[rest]); ++rest) {
      port = port * 10 + static_cast<unsigned>(s[rest] - '0');
      if (port > 65535) return false;
    }
  }
  if (rest < s.size() && s[rest] != '/' && s[rest] != '?' && s[rest] != '#') return false;
  // One pass over the rest: every byte allowed, and where the query and the fragment start.
  std::size_t query = std::string_view::npos;
  std::size_t fragment = s.size();
  for (std::size_t i = rest; i < s.size(); ++i) {
    const char c = s[i];
    if ((k_class[static_cast<unsigned char>(c)] & 4) == 0) return false;
    if (c == '#' && fragment == s.size()) fragment = i;
    if (c == '?' && query == std::string_view::npos && fragment == s.size()) query = i;
  }
  out.host = host;
  if (query != std::string_view::npos) {
    out.path = s.substr(rest, query - rest);
    out.query = s.substr(query + 1, fragment - query - 1);
  } else {
    out.path = s.substr(rest, fragment - rest);
    out.query.reset();
  }
  return true;
}

result<parsed_url> parse_url(std::string_view input, idna_mode mode) {
  parsed_url u;
  if (auto st = parse_url(input, mode, u); !st) return std::move(st).err();
  return u;
}

result<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      bool room = i + 2 < s.size();
      int hi = room ? hex_value(s[i + 1]) : -1;
      int lo = room ? hex_value(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return make_error(errc::validation_failed,
                          "malformed percent-escape in '" + excerpt(s) + "'");
      }
      out.push_back(static_cast<char>(hi << 4 | lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  if (!is_valid_utf8(out)) {
    return make_error(errc::validation_failed,
                      "'" + excerpt(s) + "' does not decode to valid UTF-8");
  }
  return out;
}

std::string form_decode(std::string_view s) {
  std::string bytes = percent_decode_lenient(s, true);
  return remove_control_characters(to_valid_utf8(bytes));
}

}  // namespace referrald::domain
