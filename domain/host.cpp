#include "domain/host.hpp"

#include <idn2.h>

#include "domain/text.hpp"

namespace referrald::domain {

namespace {

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

bool is_scheme_char(char c) {
  return is_alpha(c) || (c >= '0' && c <= '9') || c == '+' || c == '.' || c == '-';
}

// Length of a leading `scheme://` (any case), or 0.
std::size_t scheme_length(std::string_view s) {
  if (s.empty() || !is_alpha(s[0])) return 0;
  std::size_t i = 1;
  while (i < s.size() && is_scheme_char(s[i]))
    ++i;
  if (s.substr(i, 3) == "://") return i + 3;
  return 0;
}

result<std::string> to_ascii(const std::string& host) {
  char* out = nullptr;
  int rc = idn2_to_ascii_8z(host.c_str(), &out, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
  if (rc != IDN2_OK) {
    return make_error(
        errc::validation_failed,
        std::string("is not a valid internationalized domain name (") + idn2_strerror(rc) + ")");
  }
  std::string converted = to_lower_ascii(out);
  idn2_free(out);
  return converted;
}

bool has_a_label(std::string_view host) {
  return host.starts_with("xn--") || host.find(".xn--") != std::string_view::npos;
}

// An ASCII host with punycode labels must decode to a valid internationalized name that
// encodes back to the same labels ("xn--ls8h.com", an emoji, does not).
status check_a_labels(const std::string& host) {
  char* unicode = nullptr;
  int rc = idn2_to_unicode_8z8z(host.c_str(), &unicode, 0);
  if (rc != IDN2_OK) {
    return make_error(errc::validation_failed,
                      std::string("has an invalid punycode label (") + idn2_strerror(rc) + ")");
  }
  auto back = to_ascii(unicode);
  idn2_free(unicode);
  if (!back || *back != host) {
    return make_error(errc::validation_failed,
                      "has a punycode label that is not a valid internationalized name");
  }
  return {};
}

}  // namespace

result<std::string> normalize_host(std::string_view raw) {
  // Works on views of the input and lowercases only the host it finds: one allocation.
  std::string_view v = trim(raw);
  if (v.empty()) return make_error(errc::validation_failed, "must not be empty");
  if (std::size_t n = scheme_length(v); n > 0) {
    v.remove_prefix(n);
  } else if (v.starts_with("//")) {
    v.remove_prefix(2);
  }
  if (std::size_t cut = find_first_of<'/', '?', '#'>(v); cut != std::string_view::npos) {
    v = v.substr(0, cut);
  }
  if (std::size_t at = v.rfind('@'); at != std::string_view::npos) v.remove_prefix(at + 1);
  if (!v.empty() && v.front() == '[') {
    // IPv6 literal: keep the bracketed address, drop a port after it.
    if (std::size_t close = v.find(']'); close != std::string_view::npos) {
      v = v.substr(0, close + 1);
    }
  } else if (std::size_t colon = v.find(':'); colon != std::string_view::npos) {
    v = v.substr(0, colon);
  }
  if (!v.empty() && v.back() == '.') v.remove_suffix(1);
  if (v.empty()) return make_error(errc::validation_failed, "has no host name");
  bool ascii = true;
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) {
      return make_error(errc::validation_failed, "contains a control character");
    }
    if (u >= 0x80) ascii = false;
  }

  std::string host = to_lower_ascii(v);
  if (!ascii) {
    auto converted = to_ascii(host);
    if (!converted) return converted;
    host = std::move(*converted);
    if (!host.empty() && host.back() == '.') host.pop_back();
  } else if (has_a_label(host)) {
    if (auto st = check_a_labels(host); !st) return std::move(st).err();
  }
  if (host.starts_with("www.") && host.find('.', 4) != std::string::npos) host.erase(0, 4);
  if (host.empty()) return make_error(errc::validation_failed, "has no host name");
  return host;
}

bool is_valid_hostname(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  std::size_t labels = 0;
  std::size_t start = 0;
  while (start <= host.size()) {
    std::size_t end = host.find('.', start);
    if (end == std::string_view::npos) end = host.size();
    std::string_view label = host.substr(start, end - start);
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
      if (!ok) return false;
    }
    ++labels;
    start = end + 1;
  }
  return labels >= 2;
}

bool host_matches_domain(std::string_view host, std::string_view domain) {
  if (domain.empty() || host.size() < domain.size()) return false;
  if (!host.ends_with(domain)) return false;
  return host.size() == domain.size() || host[host.size() - domain.size() - 1] == '.';
}

}  // namespace referrald::domain
