#pragma once

// Known referrers (docs/known-referrers.md): the search engines, social networks, webmail
// providers, video and shopping sites and ad networks whose visits get a canonical source
// and medium ("google / organic", "facebook / social") instead of the plain host and
// "referral", and the ad click ids of the landing URL. Versioned data compiled in
// (domain/attribution/data/known_referrers.json, built by tools/known_referrers/build.py
// from the public lists); every answer it decides names the entry.
//
// A referrer matches an entry by the entry's hosts and paths as domain/web/site_catalogue.hpp
// matches them ("google.com", "google.{}", "google.fr/imgres").
//
// Immutable; safe to use from any thread.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "domain/base/json.hpp"
#include "domain/base/result.hpp"
#include "domain/base/string_table.hpp"
#include "domain/base/text.hpp"
#include "domain/web/site_catalogue.hpp"

namespace referrald::domain {

// What kind of site a known referrer is; the default channel group reads it.
enum class referrer_category : std::uint8_t {
  search,
  social,
  email,
  video,
  shopping,
  paid,
  unknown
};
std::string_view to_string(referrer_category c);

struct known_referrer {
  std::string source;  // canonical: "google", "facebook", "gmail"
  std::string name;    // as the lists spell it: "Google Images"
  referrer_category category = referrer_category::unknown;
  std::string medium;                      // "organic", "social", "email", "video", ...
  std::vector<std::string> hosts;          // "google.com", "google.{}"
  std::vector<std::string> paths;          // "google.fr/imgres"
  std::vector<std::string> search_params;  // query parameters holding the search term
  std::vector<std::string> lists;          // snowplow, matomo, ga4
};

// An ad or campaign click id of the landing URL ("gclid"), and what it implies.
struct click_id {
  std::string name;    // the query parameter, lowercase
  std::string source;  // "google"
  std::string medium;  // "cpc", "social", "email", "affiliate", ...
  bool paid = false;
  std::string platform;  // who adds it: "Google Ads"
  std::string doc;       // where the platform documents it
};

class known_referrer_list {
 public:
  static const known_referrer_list& builtin();
  static result<known_referrer_list> parse(std::string_view json);

  const std::string& version() const { return version_; }
  const std::vector<known_referrer>& referrers() const { return referrers_; }
  const std::vector<click_id>& click_ids() const { return click_ids_; }

  // The entry a referrer matches: `raw` as given (for paths), `host` normalized. nullptr
  // when none does.
  const known_referrer* lookup(std::string_view raw, std::string_view host) const;
  // The same for a referrer already parsed: its normalized host and its path as parsed.
  const known_referrer* lookup_parsed(std::string_view host, std::string_view path) const;
  // The parts of lookup_parsed: by the host alone (ignoring path-scoped entries), and
  // whether a path-scoped entry covers the host (the answer then depends on the path).
  const known_referrer* lookup_host(std::string_view host) const;
  bool has_paths(std::string_view host) const { return sites_.has_paths(host); }

  // The click id a query parameter name is (case-insensitive), or nullptr.
  const click_id* find_click_id(std::string_view name) const;

  // The category of a source as the default channel group reads it: a canonical source
  // ("google"), or a host of the list ("m.facebook.com"); nullopt when neither.
  const known_referrer* by_source(std::string_view source) const;

  // The search term of a referrer URL under `entry` (the first of its search parameters
  // with a value, form-decoded); empty when none.
  static std::string search_term(const known_referrer& entry, std::string_view raw);
  // The same from the referrer's query (without '?').
  static std::string search_term_in(const known_referrer& entry, std::string_view query);

  // {"version","lists":[...],"click_ids":[...],"referrers":[...]}
  void write_json(json_writer& w) const;

 private:
  using table = string_table<std::size_t>;
  struct list_origin {
    std::string id, origin, revision;
  };

  std::string version_;
  std::vector<list_origin> lists_;
  std::vector<known_referrer> referrers_;
  std::vector<click_id> click_ids_;
  site_catalogue sites_;  // every entry's hosts and paths
  table sources_;         // canonical source -> its main entry
  table clicks_;          // click id name -> index
};

}  // namespace referrald::domain
