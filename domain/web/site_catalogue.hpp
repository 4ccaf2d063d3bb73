#pragma once

// A catalogue of sites matched by host and path: the one matcher behind every list of
// sites the service holds as data (the AI platforms, the known referrers, the passthrough
// starter pack). Each list adds its entries' patterns under the entry's index; a lookup
// gives the index of the entry a referrer belongs to.
//
// Patterns:
//   "example.com"        that host and its subdomains (label boundary: never
//                        "notexample.com" or "example.com.evil.net");
//   "name.{}"            "name." followed by any public suffix (libpsl), and their
//                        subdomains: "google.{}" covers google.de, google.co.uk and
//                        www2.google.com.br, never google.evil.net;
//   "example.com/path"   that host and its subdomains when the path is the prefix or
//                        continues it after '/' (ASCII case ignored).
//
// The most specific match wins: a path-scoped pattern on the host's longest level that has
// one, else, level by level from the whole host down, a listed host, then the longest
// "name.{}" that fits the level. Hosts must be normalized (lowercase ASCII,
// domain/web/host.hpp); patterns are lowercase.
//
// Not thread-safe while built; any number of threads may read a built catalogue.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/base/string_table.hpp"

namespace referrald::domain {

class site_catalogue {
 public:
  using site = std::uint32_t;

  // Adds `pattern` for `s`. False when it is malformed (empty, a path without a host) or
  // the same host or "name.{}" is listed already.
  bool add(std::string_view pattern, site s);

  // The site of `host` at `path` (empty: none known), or nullopt.
  std::optional<site> find(std::string_view host, std::string_view path = {}) const;

  // The parts of find(): by the path-scoped patterns alone, and by host patterns alone.
  std::optional<site> by_path(std::string_view host, std::string_view path) const;
  std::optional<site> by_host(std::string_view host) const;

  // True when a path-scoped pattern covers `host` (find() then depends on the path).
  bool has_paths(std::string_view host) const;

 private:
  struct path_entry {
    std::string prefix;  // "/imgres"
    site s;
  };

  // Calls `each(level)` for `host` and each of its parent domains, longest first, while
  // it returns false; whether one returned true.
  template <class Each>
  static bool each_level(std::string_view host, Each&& each);

  bool tld_listed(std::string_view host) const {
    return last_labels_.contains(host.substr(host.rfind('.') + 1));
  }

  string_table<site> hosts_;    // "google.com"
  string_table<site> any_tld_;  // "google" for "google.{}"
  // host -> its path-scoped entries ("google.fr" -> "/imgres"), found by walking the
  // host's levels: a lookup costs a few hash lookups, not a scan of them all.
  string_table<std::vector<path_entry>> paths_;
  // Filters that spare most lookups of a host the catalogue cannot hold: the last labels
  // of every listed host and path host ("com", "de"), and the first labels of every
  // "name.{}" ("google").
  string_table<bool> last_labels_;
  string_table<bool> any_tld_first_;
};

}  // namespace referrald::domain
