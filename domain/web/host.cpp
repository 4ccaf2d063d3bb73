#include "domain/web/host.hpp"

#include <libpsl.h>

#include <array>
#include <cctype>
#include <cstring>

#include "domain/base/string_table.hpp"
#include "domain/base/text.hpp"

namespace referrald::domain {

result<std::string> normalize_host(std::string_view raw, idna_mode mode, trailing_dot dot) {
  std::string_view v = trim(raw);
  if (v.empty()) return make_error(errc::validation_failed, "must not be empty");
  auto url = parse_url(v, mode);
  if (!url) return std::move(url).err();
  return host_of(std::move(*url), dot);
}

result<std::string> host_of(parsed_url&& url, trailing_dot dot) {
  auto host = host_in(url, dot);
  if (!host) return std::move(host).err();
  return std::string(*host);
}

result<std::string_view> host_in(parsed_url& url, trailing_dot dot) {
  if (url.kind == host_kind::none) {
    return make_error(errc::validation_failed, url.scheme.empty() || url.special
                                                   ? "has no host name"
                                                   : "has no host name (URLs with the " +
                                                         url.scheme + ": scheme have none)");
  }
  std::string_view host = normalized_host_in(url, dot);
  if (host.empty()) return make_error(errc::validation_failed, "has no host name");
  return host;
}

std::string normalized_host(parsed_url&& url, trailing_dot dot) {
  return std::string(normalized_host_in(url, dot));
}

std::string_view normalized_host_in(parsed_url& url, trailing_dot dot) {
  if (url.kind == host_kind::opaque) {
    for (char& c : url.host) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
  }
  std::string_view host = url.host;
  if (url.kind != host_kind::domain && url.kind != host_kind::opaque) return host;
  return normalized_domain(host, dot);
}

std::string_view normalized_domain(std::string_view host, trailing_dot dot) {
  if (dot == trailing_dot::drop && !host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.starts_with("www.") && host.find('.', 4) != std::string_view::npos &&
      !is_public_suffix(host.substr(4))) {
    host.remove_prefix(4);
  }
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

namespace {

// The newest of the list built into libpsl and the system's copy (Debian's publicsuffix
// package), loaded once.
const psl_ctx_t* public_suffix_list() {
  static const psl_ctx_t* psl = [] {
    const psl_ctx_t* latest = psl_latest(nullptr);
    return latest != nullptr ? latest : psl_builtin();
  }();
  return psl;
}

bool psl_says_public_suffix(std::string_view host) {
  const psl_ctx_t* psl = public_suffix_list();
  if (psl == nullptr) return false;
  constexpr int flags = PSL_TYPE_ANY | PSL_TYPE_NO_STAR_RULE;
  if (host.size() > 253) return psl_is_public_suffix2(psl, std::string(host).c_str(), flags) != 0;
  char h[254];  // a name's copy with its terminator, without allocating: the common case
  host.copy(h, host.size());
  h[host.size()] = '\0';
  return psl_is_public_suffix2(psl, h, flags) != 0;
}

// The last answers for short names, per thread, in slots chosen by the name's hash: a log's
// hosts repeat, and libpsl's lookup costs more than a hash and a compare. The list is
// loaded once and never changes, so an answer never goes stale.
struct suffix_memo {
  static constexpr std::size_t k_slots = 512;
  static constexpr std::size_t k_longest = 46;
  struct slot {
    std::uint8_t length = 0;  // 0: empty
    bool answer = false;
    char name[k_longest];
  };
  std::array<slot, k_slots> slots{};
};

}  // namespace

bool is_public_suffix(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.empty()) return false;
  if (host.size() > suffix_memo::k_longest) return psl_says_public_suffix(host);
  thread_local suffix_memo memo;
  auto& s = memo.slots[string_hash(host) & (suffix_memo::k_slots - 1)];
  if (s.length == host.size() && std::memcmp(s.name, host.data(), host.size()) == 0) {
    return s.answer;
  }
  s.answer = psl_says_public_suffix(host);
  s.length = static_cast<std::uint8_t>(host.size());
  host.copy(s.name, host.size());
  return s.answer;
}

bool host_matches_domain(std::string_view host, std::string_view domain) {
  if (domain.empty() || host.size() < domain.size()) return false;
  if (!host.ends_with(domain)) return false;
  return host.size() == domain.size() || host[host.size() - domain.size() - 1] == '.';
}

std::string registrable_domain(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  const psl_ctx_t* psl = public_suffix_list();
  // An IP address has none: IPv6 is bracketed, and an IPv4 address ends with a number.
  bool ip = !host.empty() &&
            (host.front() == '[' || std::isdigit(static_cast<unsigned char>(host.back())) != 0);
  if (psl == nullptr || host.empty() || ip) return std::string(host);
  std::string h(host);
  const char* d = psl_registrable_domain(psl, h.c_str());
  return d != nullptr ? std::string(d) : h;
}

}  // namespace referrald::domain
