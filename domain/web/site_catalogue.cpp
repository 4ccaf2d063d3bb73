#include "domain/web/site_catalogue.hpp"

#include "domain/base/text.hpp"
#include "domain/web/host.hpp"

namespace referrald::domain {

namespace {

constexpr std::string_view k_any_tld = ".{}";

std::string_view last_label(std::string_view host) { return host.substr(host.rfind('.') + 1); }

}  // namespace

template <class Each>
bool site_catalogue::each_level(std::string_view host, Each&& each) {
  for (std::size_t pos = 0;;) {
    if (each(host.substr(pos))) return true;
    pos = host.find('.', pos);
    if (pos == std::string_view::npos) return false;
    ++pos;
  }
}

bool site_catalogue::add(std::string_view pattern, site s) {
  if (pattern.empty()) return false;
  if (auto slash = pattern.find('/'); slash != std::string_view::npos) {
    if (slash == 0) return false;
    std::string_view host = pattern.substr(0, slash);
    last_labels_.emplace(last_label(host), true);
    paths_[host].push_back({std::string(pattern.substr(slash)), s});
    return true;
  }
  if (pattern.ends_with(k_any_tld)) {
    std::string_view name = pattern.substr(0, pattern.size() - k_any_tld.size());
    if (name.empty() || !any_tld_.emplace(name, s)) return false;
    any_tld_first_.emplace(name.substr(0, name.find('.')), true);
    return true;
  }
  if (!hosts_.emplace(pattern, s)) return false;
  last_labels_.emplace(last_label(pattern), true);
  return true;
}

std::optional<site_catalogue::site> site_catalogue::by_path(std::string_view host,
                                                            std::string_view path) const {
  if (host.empty() || paths_.empty() || !tld_listed(host)) return std::nullopt;
  std::optional<site> found;
  each_level(host, [&](std::string_view level) {
    const auto* entries = paths_.find(level);
    if (entries == nullptr) return false;
    // Prefixes are lowercase; the path is compared ignoring ASCII case.
    for (const auto& e : *entries) {
      if (path.size() >= e.prefix.size() &&
          equals_lower_ascii(path.substr(0, e.prefix.size()), e.prefix) &&
          (path.size() == e.prefix.size() || path[e.prefix.size()] == '/')) {
        found = e.s;
        return true;
      }
    }
    return false;
  });
  return found;
}

std::optional<site_catalogue::site> site_catalogue::by_host(std::string_view host) const {
  if (host.empty()) return std::nullopt;
  // Every level of the host ends with its last label: when no listed host does, none of
  // them is listed.
  const bool listed = tld_listed(host);
  std::optional<site> found;
  each_level(host, [&](std::string_view level) {
    if (listed) {
      if (const auto* s = hosts_.find(level)) {
        found = *s;
        return true;
      }
    }
    std::size_t dot = level.find('.');
    // Every "name.{}" candidate of this level starts with its first label.
    if (dot == std::string_view::npos || !any_tld_first_.contains(level.substr(0, dot))) {
      return false;
    }
    // The level is a listed name followed by a public suffix: the longest name first.
    for (std::size_t end = level.rfind('.'); end != std::string_view::npos && end >= dot;
         end = end == 0 ? std::string_view::npos : level.rfind('.', end - 1)) {
      if (const auto* s = any_tld_.find(level.substr(0, end));
          s != nullptr && is_public_suffix(level.substr(end + 1))) {
        found = *s;
        return true;
      }
    }
    return false;
  });
  return found;
}

std::optional<site_catalogue::site> site_catalogue::find(std::string_view host,
                                                         std::string_view path) const {
  if (auto s = by_path(host, path)) return s;
  return by_host(host);
}

bool site_catalogue::has_paths(std::string_view host) const {
  if (host.empty() || paths_.empty() || !tld_listed(host)) return false;
  return each_level(host, [&](std::string_view level) { return paths_.find(level) != nullptr; });
}

}  // namespace referrald::domain
