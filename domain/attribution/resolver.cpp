#include "domain/attribution/resolver.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <array>
#include <charconv>
#include <cstring>

#include "domain/attribution/channels.hpp"
#include "domain/base/text.hpp"
#include "domain/match/mapping_index.hpp"
#include "domain/web/host.hpp"
#include "domain/web/url.hpp"
#include "infra/metrics.hpp"

namespace referrald::domain {

namespace {

constexpr std::size_t k_url_max = 8192;

// -- explain -------------------------------------------------------------------------

// Writes the explanation of each step when one was asked for; builds nothing otherwise
// (the `why` text is produced by a callable only when it is written).
struct explainer {
  json_writer* w;
  bool decided = false;

  bool on() const { return w != nullptr; }

  template <class Why>
  void step(std::string_view name, bool applies, Why&& why) {
    if (w == nullptr) return;
    w->StartObject();
    w->Key("step");
    write_string(*w, name);
    w->Key("applies");
    w->Bool(applies);
    w->Key("decides");
    w->Bool(applies && !decided);
    w->Key("why");
    write_string(*w, why());
  }
  void end_step(bool applies) {
    if (w == nullptr) return;
    w->EndObject();
    if (applies) decided = true;
  }
};

std::string quote(std::string_view s) { return "'" + excerpt(s) + "'"; }

void explain_passthrough(json_writer& w, const account_state& s, std::string_view host,
                         const passthrough_referrer* winner) {
  w.Key("rules");
  w.StartArray();
  for (auto [id, e] : s.referrers().items()) {
    const passthrough_referrer& r = e->value;
    if (!r.is_active) continue;
    bool matched = host_matches_domain(host, r.domain);
    w.StartObject();
    w.Key("id");
    w.Int64(r.id);
    w.Key("domain");
    write_string(w, r.domain);
    w.Key("matched");
    w.Bool(matched);
    w.Key("note");
    if (!matched) {
      write_string(w, "the host is neither " + quote(r.domain) + " nor one of its subdomains");
    } else if (winner != nullptr && winner->id == r.id) {
      write_string(w, "covers the host; the most specific matching domain");
    } else {
      write_string(w, "covers the host, but " + quote(winner->domain) + " is more specific");
    }
    w.EndObject();
  }
  w.EndArray();
}

std::string mapping_miss(const referrer_mapping& m) {
  switch (m.match_type) {
    case match_type::exact:
      return "the host is not " + quote(m.referrer_pattern);
    case match_type::contains:
      return "the host does not contain " + quote(m.referrer_pattern);
    case match_type::starts_with:
      return "the host does not start with " + quote(m.referrer_pattern);
    case match_type::ends_with:
      return "the host is neither " + quote(m.referrer_pattern) + " nor a subdomain of it";
    case match_type::regex:
      return "the regular expression does not match the host";
  }
  return "no match";
}

void explain_mappings(json_writer& w, const mapping_index& idx, std::string_view host,
                      const referrer_mapping* winner, regex_budget& budget) {
  w.Key("rules");
  w.StartArray();
  for (const referrer_mapping* rule : idx.ranked()) {
    const referrer_mapping& m = *rule;
    bool regex = m.match_type == match_type::regex;
    auto searched = regex && m.regex != nullptr ? budget.match(*m.regex, host, {"mapping", m.id})
                                                : regex_budget::result::no_match;
    bool tried = searched != regex_budget::result::not_tried;
    bool matched = regex ? regex_budget::matched(searched) : m.matches(host);
    w.StartObject();
    w.Key("id");
    w.Int64(m.id);
    w.Key("referrer_pattern");
    write_string(w, m.referrer_pattern);
    w.Key("match_type");
    write_string(w, to_string(m.match_type));
    w.Key("priority");
    w.Int64(m.priority);
    w.Key("matched");
    w.Bool(matched);
    w.Key("note");
    if (!tried) {
      write_string(w, "not tried: the regex budget of the visit was used up");
    } else if (!matched) {
      write_string(w, mapping_miss(m));
    } else if (winner != nullptr && winner->id == m.id) {
      write_string(w, "matches; highest priority (then lowest id) among the matches");
    } else {
      write_string(w, "matches, but loses on priority to mapping " + std::to_string(winner->id));
    }
    w.EndObject();
  }
  w.EndArray();
}

constexpr std::array<std::string_view, 5> k_utm_names = {"utm_source", "utm_medium", "utm_campaign",
                                                         "utm_term", "utm_content"};

std::string* utm_slot(utm_values& u, std::size_t i) {
  std::string* slots[] = {&u.source, &u.medium, &u.campaign, &u.term, &u.content};
  return slots[i];
}

// What the landing URL's query says for rows 1 and 2, found without decoding anything
// but the values that count.
struct landing_params {
  bool has_utm = false;
  utm_values utms;
  const click_id* click = nullptr;  // the first known click id with a value
  bool from_parameters = false;     // a value came from the account's campaign parameters
};

// True when `s` can be used as it is: nothing to decode, nothing to remove.
bool plain(std::string_view s) {
  for (unsigned char c : s) {
    if (c == '%' || c == '+' || c < 0x20 || c == 0x7F || c >= 0x80) return false;
  }
  return true;
}

// `settings` (may be null) names more campaign parameters: each fills its slot when no
// utm_* parameter does (the first in the URL with a value).
landing_params scan_query(std::string_view query, const account_settings* settings) {
  landing_params out;
  utm_values extra;
  const bool more = settings != nullptr && settings->reads_campaign_parameters();
  std::string decoded_name;
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    std::size_t eq = part.find('=');
    if (eq == std::string_view::npos || eq + 1 == part.size()) continue;  // no value
    std::string_view name = part.substr(0, eq);
    std::string_view raw_value = part.substr(eq + 1);
    if (!plain(name)) {
      decoded_name = form_decode(name);
      name = decoded_name;
    }
    const bool utm = name.size() >= 4 && equals_lower_ascii(name.substr(0, 4), "utm_");
    bool standard = false;  // one of the five utm_* names
    if (utm) {
      for (std::size_t i = 0; i < k_utm_names.size() && !standard; ++i) {
        if (!equals_lower_ascii(name, k_utm_names[i])) continue;
        standard = true;
        std::string* slot = utm_slot(out.utms, i);
        if (!slot->empty()) break;  // the first occurrence with a value wins
        *slot = plain(raw_value) ? std::string(raw_value) : form_decode(raw_value);
        if (!slot->empty()) out.has_utm = true;
      }
    }
    if (standard) continue;
    if (!utm && out.click == nullptr) {
      out.click = known_referrer_list::builtin().find_click_id(name);
    }
    // Another name (utm_id, utm_keyword... among them) fills a slot when the settings list it.
    if (more) {
      if (int slot = settings->campaign_slot(name); slot >= 0) {
        std::string* target = utm_slot(extra, static_cast<std::size_t>(slot));
        if (target->empty()) {
          *target = plain(raw_value) ? std::string(raw_value) : form_decode(raw_value);
        }
      }
    }
  }
  if (more && extra.any()) {
    for (std::size_t i = 0; i < k_utm_names.size(); ++i) {
      std::string* slot = utm_slot(out.utms, i);
      if (slot->empty() && !utm_slot(extra, i)->empty()) {
        *slot = std::move(*utm_slot(extra, i));
        out.has_utm = true;
        out.from_parameters = true;
      }
    }
  }
  return out;
}

}  // namespace

namespace {

// The steps of parse_visit a visit's text goes through whoever read it (a JSON document, or
// a log line's members): each returns the problem with its field, or nothing.

void reset(visit& v) {
  v.referrer.clear();
  v.referrer_host.clear();
  v.referrer_path.clear();
  v.referrer_query.reset();
  v.landing_host.clear();
  v.landing_query.clear();
  v.landing_path.clear();
  v.session.reset();
  v.warnings.clear();
}

// The URL a visit's value is parsed into: one per thread, its storage reused.
parsed_url& url_scratch() {
  thread_local parsed_url url;
  return url;
}

// A URL longer than k_url_max bytes (sign-in and ad redirects carry large tokens) is read
// without what resolution never needs, until it fits: its fragment, then its query
// parameters, longest first (utm_* values, click ids and search terms are short), then its
// path. `out` holds what is read (empty when even its scheme and host do not fit); the
// warning (`what`: "the referrer", "the landing URL") says what was left out.
std::string_view shorten_url(std::string_view raw, std::string_view what, std::string& out,
                             std::vector<std::string>& warnings) {
  std::string_view head = raw.substr(0, raw.find('#'));
  std::string_view query;
  if (auto q = head.find('?'); q != std::string_view::npos) {
    query = head.substr(q + 1);
    head = head.substr(0, q);
  }
  std::vector<std::string_view> params;
  for (std::size_t at = 0; at <= query.size() && !query.empty();) {
    auto amp = query.find('&', at);
    if (amp == std::string_view::npos) amp = query.size();
    params.push_back(query.substr(at, amp - at));
    at = amp + 1;
  }
  std::vector<std::size_t> longest(params.size());
  for (std::size_t i = 0; i < longest.size(); ++i)
    longest[i] = i;
  std::stable_sort(longest.begin(), longest.end(), [&](std::size_t a, std::size_t b) {
    return params[a].size() > params[b].size();
  });
  std::size_t size = head.size() + query.size() + (params.empty() ? 0 : 1);
  std::vector<bool> dropped(params.size(), false);
  std::size_t left_out = 0;
  for (std::size_t k = 0; k < longest.size() && size > k_url_max; ++k, ++left_out) {
    dropped[longest[k]] = true;
    size -= params[longest[k]].size() + 1;  // with its '&' (or the '?' of the last one)
  }
  bool path_dropped = false;
  if (head.size() > k_url_max) {
    // Then the path: the scheme and the authority are what is left.
    auto slashes = head.find("//");
    auto path = head.find_first_of("/\\", slashes == std::string_view::npos ? 0 : slashes + 2);
    if (path != std::string_view::npos) head = head.substr(0, path);
    path_dropped = true;
  }
  out.clear();
  const std::string told(what);
  if (head.size() > k_url_max) {
    warnings.push_back(told + " is " + std::to_string(raw.size()) +
                       " bytes long and its host cannot be read within " +
                       std::to_string(k_url_max) + " bytes; " +
                       (what == "the referrer" ? "the visit is treated as having no referrer"
                                               : "it is treated as having no host and no "
                                                 "parameters"));
    return out;
  }
  out.assign(head);
  if (!path_dropped) {
    char sep = '?';
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (dropped[i]) continue;
      out += sep;
      out.append(params[i]);
      sep = '&';
    }
  }
  std::string kept_out = raw.find('#') != std::string_view::npos ? "its fragment" : "";
  if (path_dropped) {
    kept_out += std::string(kept_out.empty() ? "" : ", ") + "its path and its query";
  } else if (left_out > 0) {
    kept_out += std::string(kept_out.empty() ? "" : " and ") + std::to_string(left_out) +
                " of its " + std::to_string(params.size()) + " query parameters (the longest)";
  }
  warnings.push_back(told + " is " + std::to_string(raw.size()) + " bytes long, more than " +
                     std::to_string(k_url_max) + ": it was read without " + kept_out);
  return out;
}

// Scratch for a shortened URL, one per thread.
std::string& short_url_scratch() {
  thread_local std::string s;
  return s;
}

std::optional<std::string> read_referrer(std::string_view text, visit& v) {
  std::string_view raw = trim(text);
  if (raw.size() > k_url_max) {
    raw = shorten_url(raw, "the referrer", short_url_scratch(), v.warnings);
  }
  if (raw.empty()) return std::nullopt;
  // Parsed once: the host, and the path and query rank 7 may read.
  parsed_url& url = url_scratch();
  auto parsed = parse_url(raw, idna_mode::browser, url);
  auto host = parsed ? host_in(url) : result<std::string_view>(std::move(parsed).err());
  if (!host) {
    v.warnings.push_back("the referrer '" + excerpt(raw) + "' " + host.err().message +
                         "; the visit is treated as having no referrer");
  } else {
    v.referrer_host.assign(*host);
    v.referrer_path.assign(url.path);
    if (url.query) {
      assign_optional(v.referrer_query, *url.query);
    } else {
      v.referrer_query.reset();
    }
  }
  v.referrer.assign(raw);
  return std::nullopt;
}

std::optional<std::string> read_landing(std::string_view text, visit& v) {
  std::string_view raw = trim(text);
  if (raw.size() > k_url_max) {
    raw = shorten_url(raw, "the landing URL", short_url_scratch(), v.warnings);
    if (raw.empty()) return std::nullopt;
  }
  parsed_url& url = url_scratch();
  if (auto parsed = parse_url(raw, idna_mode::browser, url); !parsed) {
    v.warnings.push_back("the landing URL '" + excerpt(raw) + "' " + parsed.err().message +
                         "; it is treated as having no host and no parameters");
  } else {
    if (url.query) v.landing_query.assign(*url.query);
    v.landing_path.assign(url.path);
    v.landing_host.assign(normalized_host_in(url));
    if (v.landing_host.empty()) {
      v.warnings.push_back("the landing URL '" + excerpt(raw) +
                           "' has no host name; no referrer is internal to it");
    }
  }
  return std::nullopt;
}

std::optional<std::string> read_session_value(std::string_view text, std::string& slot) {
  std::string_view value = trim(text);
  if (auto bad = forbidden_character(value); !bad.empty()) return "must not contain " + bad;
  slot.assign(value);
  return std::nullopt;
}

}  // namespace

result<visit> parse_visit(const rapidjson::Value& body, std::optional<std::size_t> index,
                          bool among_others) {
  field_reader in(body, {"referrer", "landing_url", "session"}, among_others);
  visit v;
  auto check = [&](std::string field, std::optional<std::string> problem) {
    if (problem) in.fail(std::move(field), std::move(*problem));
  };
  if (body.IsObject()) {
    if (auto it = body.FindMember("referrer"); it != body.MemberEnd() && !it->value.IsNull()) {
      if (!it->value.IsString()) {
        in.fail("referrer", "must be a string or null");
      } else {
        check("referrer", read_referrer({it->value.GetString(), it->value.GetStringLength()}, v));
      }
    }
    auto landing = body.FindMember("landing_url");
    if (landing == body.MemberEnd()) {
      in.fail("landing_url", "is required");
    } else if (!landing->value.IsString()) {
      in.fail("landing_url", "must be a string");
    } else {
      check("landing_url",
            read_landing({landing->value.GetString(), landing->value.GetStringLength()}, v));
    }
    if (auto it = body.FindMember("session"); it != body.MemberEnd() && !it->value.IsNull()) {
      if (!it->value.IsObject()) {
        in.fail("session", "must be an object of utm_* values, or null");
      } else {
        utm_values s;
        unsigned seen = 0;  // a name given twice is refused, as at the top level
        for (auto m = it->value.MemberBegin(); m != it->value.MemberEnd(); ++m) {
          std::string_view key(m->name.GetString(), m->name.GetStringLength());
          std::size_t which = k_utm_names.size();
          for (std::size_t i = 0; i < k_utm_names.size(); ++i) {
            if (key == k_utm_names[i]) which = i;
          }
          if (which == k_utm_names.size()) {
            in.fail("session." + excerpt(key),
                    "is not a session field (utm_source, utm_medium, utm_campaign, utm_term, "
                    "utm_content)");
            continue;
          }
          if ((seen >> which & 1u) != 0) {
            in.fail("session." + std::string(key), "is given more than once");
            continue;
          }
          seen |= 1u << which;
          if (m->value.IsNull()) continue;
          if (!m->value.IsString()) {
            in.fail("session." + std::string(key), "must be a string or null");
            continue;
          }
          check("session." + std::string(key),
                read_session_value({m->value.GetString(), m->value.GetStringLength()},
                                   *utm_slot(s, which)));
        }
        if (s.any()) v.session = std::move(s);
      }
    }
  }
  if (auto st = in.finish(); !st) {
    error e = std::move(st).err();
    if (index) {
      // The visit itself when the detail names no field of it (a visit that is not an
      // object), else its field: "visits[3]", "visits[3].landing_url".
      std::string visit_name = "visits[" + std::to_string(*index) + "]";
      for (auto& d : e.details)
        d.field = d.field.empty() ? visit_name : visit_name + "." + d.field;
      e.message = "visit " + std::to_string(*index) + " is invalid: " + e.message;
    }
    return e;
  }
  return v;
}

bool read_visit(const std::string_view* referrer, std::string_view landing_url,
                const session_text* session, visit& out) {
  reset(out);
  if (referrer != nullptr && read_referrer(*referrer, out)) return false;
  if (read_landing(landing_url, out)) return false;
  if (session != nullptr) {
    utm_values s;
    for (std::size_t i = 0; i < k_utm_names.size(); ++i) {
      if ((*session)[i] && read_session_value(*(*session)[i], *utm_slot(s, i))) return false;
    }
    if (s.any()) out.session = std::move(s);
  }
  return true;
}

resolution resolve(const account_state& s, const visit& v, json_writer* explain) {
  resolution r;
  r.warnings = v.warnings;
  regex_budget budget;
  // explain's listings of every rule search again, within a budget of their own: the
  // answer is the same with explain as without it.
  regex_budget listing;
  explainer x{explain};
  if (explain != nullptr) explain->StartArray();
  const std::string& landing_host = v.landing_host;
  const bool has_referrer = !v.referrer_host.empty();
  if (has_referrer) {
    r.referrer_host = v.referrer_host;
    r.ai = ai_platform_list::builtin().lookup(v.referrer, v.referrer_host);
  }
  const std::string_view ref = v.referrer_host;
  auto decide = [&](std::string_view reason, const auto& make_utms) {
    if (!r.reason.empty()) return;
    r.reason = reason;
    r.utms = make_utms();
  };
  auto session_or_direct = [&] {
    return v.session ? *v.session : utm_values{"(direct)", "(none)", "", "", ""};
  };

  const account_settings* settings = s.settings();

  // 1 and 2: the landing URL's parameters.
  landing_params params = scan_query(v.landing_query, settings);
  x.step("utm", params.has_utm, [&] {
    if (params.from_parameters) {
      return std::string(
          "the landing URL carries campaign parameters the account's settings "
          "name (utm_* values first)");
    }
    return std::string(params.has_utm ? "the landing URL carries utm_* parameters"
                                      : "the landing URL has no utm_source, utm_medium, "
                                        "utm_campaign, utm_term or utm_content with a value");
  });
  x.end_step(params.has_utm);
  if (params.has_utm) {
    decide("utm", [&] { return params.utms; });
    // A campaign tagged with an AI platform as its source is an AI referral too.
    if (!params.utms.source.empty()) {
      if (const auto* p = ai_platform_list::builtin().lookup(params.utms.source)) r.ai = p;
    }
  }

  const known_referrer_list& known = known_referrer_list::builtin();
  r.click = params.click;
  bool has_click = r.click != nullptr;
  x.step("click_id", has_click, [&] {
    return has_click
               ? "the landing URL carries " + r.click->name + " (" + r.click->platform +
                     (r.click->paid ? ", a paid click" : ", not a paid click") + ")"
               : "the landing URL has no click id of the known-referrer list " + known.version();
  });
  x.end_step(has_click);
  if (has_click) {
    decide("click_id", [&] { return utm_values{r.click->source, r.click->medium, "", "", ""}; });
  }

  // 3: internal navigation.
  bool same_site = has_referrer && (host_matches_domain(ref, landing_host) ||
                                    host_matches_domain(landing_host, ref));
  bool own = has_referrer && !same_site && settings != nullptr && settings->is_own(ref);
  bool internal = same_site || own;
  x.step("internal", internal, [&] {
    if (!has_referrer) return std::string("there is no referrer");
    if (own) return "the referrer host " + quote(ref) + " is one of the account's own domains";
    return internal ? "the referrer host " + quote(ref) + " belongs to the landing site " +
                          quote(landing_host)
                    : "the referrer host " + quote(ref) + " is outside the landing site " +
                          quote(landing_host) + " and the account's own domains";
  });
  x.end_step(internal);
  if (internal) decide("internal", session_or_direct);

  // 4: passthrough referrers.
  const passthrough_referrer* pass = nullptr;
  if (has_referrer && (r.reason.empty() || x.on())) pass = s.covering_referrer(ref);
  x.step("passthrough", pass != nullptr, [&] {
    if (pass == nullptr)
      return std::string("no active passthrough referrer covers the referrer host");
    return "passthrough referrer " + std::to_string(pass->id) + " (" + quote(pass->domain) +
           ") covers the referrer host" +
           (v.session ? "; the session's UTMs are kept" : "; no session, so the rule's UTMs apply");
  });
  if (x.on() && has_referrer) explain_passthrough(*explain, s, ref, pass);
  x.end_step(pass != nullptr);
  if (pass != nullptr && r.reason.empty()) {
    r.rule_type = "passthrough";
    r.rule_id = pass->id;
    if (v.session) {
      decide("passthrough_session", [&] { return *v.session; });
    } else {
      decide("passthrough_fallback", [&] {
        return utm_values{pass->utm_source, pass->utm_medium, pass->utm_campaign, pass->utm_term,
                          ""};
      });
    }
  }

  // 5: referrer mappings.
  const referrer_mapping* map = nullptr;
  if (has_referrer && s.mappings_index() && (r.reason.empty() || x.on())) {
    map = s.mappings_index()->best(ref, &budget);
  }
  x.step("mapping", map != nullptr, [&] {
    if (map == nullptr) return std::string("no active mapping matches the referrer host");
    return "mapping " + std::to_string(map->id) + " (" + std::string(to_string(map->match_type)) +
           " " + quote(map->referrer_pattern) + ", priority " + std::to_string(map->priority) +
           ") wins among the matches";
  });
  if (x.on() && has_referrer && s.mappings_index()) {
    explain_mappings(*explain, *s.mappings_index(), ref, map, listing);
  }
  x.end_step(map != nullptr);
  if (map != nullptr && r.reason.empty()) {
    r.rule_type = "mapping";
    r.rule_id = map->id;
    decide("mapping", [&] {
      return utm_values{map->utm_source, map->utm_medium, map->utm_campaign, map->utm_term,
                        map->utm_content};
    });
  }

  // 6: AI platforms.
  x.step("ai_platform", r.ai != nullptr, [&] {
    const std::string& version = ai_platform_list::builtin().version();
    return r.ai != nullptr ? "the referrer is " + r.ai->name + " (AI platform list " + version + ")"
                           : "the referrer is not on the AI platform list " + version;
  });
  x.end_step(r.ai != nullptr);
  if (r.ai != nullptr)
    decide("ai_platform", [&] { return utm_values{r.ai->id, "ai", "", "", ""}; });

  // 7: known referrers.
  const bool use_known = settings == nullptr || settings->known_referrers;
  const known_referrer* site = nullptr;
  if (use_known && has_referrer && (r.reason.empty() || x.on())) {
    site = known.lookup_parsed(ref, v.referrer_path);
  }
  x.step("known_referrer", site != nullptr, [&] {
    if (!use_known) return std::string("the account's settings turn the known-referrer list off");
    if (site == nullptr) {
      return "the referrer host " + quote(ref) + " is not on the known-referrer list " +
             known.version();
    }
    return "the referrer is " + site->name + " (" + std::string(to_string(site->category)) +
           ", source " + quote(site->source) + ", medium " + quote(site->medium) +
           "; known-referrer list " + known.version() + ")";
  });
  x.end_step(site != nullptr);
  if (site != nullptr && r.reason.empty()) {
    r.known = site;
    decide("known_referrer", [&] {
      return utm_values{site->source, site->medium, "",
                        site->search_params.empty() || !v.referrer_query
                            ? std::string()
                            : known_referrer_list::search_term_in(*site, *v.referrer_query),
                        ""};
    });
  }

  // 8: any other referrer.
  x.step("referral", has_referrer, [&] {
    return std::string(has_referrer ? "there is a referrer" : "there is no referrer");
  });
  x.end_step(has_referrer);
  if (has_referrer)
    decide("referral", [&] { return utm_values{v.referrer_host, "referral", "", "", ""}; });

  // 9: direct.
  x.step("direct", !has_referrer, [&] {
    if (has_referrer) return std::string("there is a referrer");
    return std::string(v.session ? "no referrer; the session's UTMs are kept"
                                 : "no referrer and no session");
  });
  x.end_step(!has_referrer);
  if (!has_referrer) decide("direct", session_or_direct);

  // The channel, on the final answer: the account's channel rules, then the default group.
  std::vector<const channel_rule*> scratch;
  auto rules = s.channel_rules(scratch);
  std::string why_channel;
  const channel_facts facts{
      r.utms.source,   r.utms.medium,
      r.utms.campaign, ref,
      has_click,       v.landing_path.empty() ? std::string_view("/") : v.landing_path};
  if (!rules.empty()) {
    for (const channel_rule* rule : rules) {
      if (!rule->matches(facts, &budget)) continue;
      r.channel_rule = rule;
      r.channel = rule->channel;
      if (x.on()) {
        why_channel = rule->channel + ": channel rule " + std::to_string(rule->id) + " (" +
                      quote(rule->name) + ", priority " + std::to_string(rule->priority) +
                      ") matches; the first of the account's " + std::to_string(rules.size()) +
                      " active channel rules that does";
      }
      break;
    }
  }
  if (r.channel_rule == nullptr) {
    if (settings == nullptr || settings->default_channel_group) {
      // A referral's source is its host, which rank 7 looked up in vain (when it looked).
      auto ch = default_channel({r.utms.source, r.utms.medium, r.utms.campaign, r.known,
                                 r.ai != nullptr, r.reason == "referral" && use_known},
                                known);
      r.channel = ch.channel;
      if (x.on()) {
        why_channel = std::string(ch.channel) + ": " + std::string(ch.condition);
        if (!rules.empty()) why_channel += " (no channel rule of the account matches)";
      }
    } else {
      r.channel = "Unassigned";
      if (x.on()) {
        why_channel =
            "Unassigned: no channel rule of the account matches, and its settings "
            "turn the default channel group off";
      }
    }
  }
  if (explain != nullptr) {
    explain->StartObject();
    explain->Key("step");
    write_string(*explain, "channel");
    explain->Key("applies");
    explain->Bool(true);
    explain->Key("decides");
    explain->Bool(false);
    explain->Key("why");
    write_string(*explain, why_channel);
    if (!rules.empty()) {
      explain->Key("rules");
      explain->StartArray();
      for (const channel_rule* rule : rules) {
        explain->StartObject();
        explain->Key("id");
        explain->Int64(rule->id);
        explain->Key("name");
        write_string(*explain, rule->name);
        explain->Key("channel");
        write_string(*explain, rule->channel);
        explain->Key("priority");
        explain->Int64(rule->priority);
        bool untried = rule->regex != nullptr && listing.exhausted();
        bool matched = rule == r.channel_rule || rule->matches(facts, &listing);
        untried = untried && !matched;
        explain->Key("matched");
        explain->Bool(matched);
        explain->Key("note");
        write_string(*explain,
                     rule == r.channel_rule ? "matches; the first rule that does"
                     : matched ? "matches, but channel rule " + std::to_string(r.channel_rule->id) +
                                     " comes first"
                     : untried ? std::string("not tried: the regex budget of the visit was used up")
                               : std::string("a condition does not hold"));
        explain->EndObject();
      }
      explain->EndArray();
    }
    explain->EndObject();
  }

  r.regex_steps = budget.spent() + listing.spent();
  if (budget.exhausted()) {
    infra::metrics().regex_budget_exhausted.fetch_add(1, std::memory_order_relaxed);
    r.warnings.push_back(budget.warning());
  }
  if (explain != nullptr) explain->EndArray();
  return r;
}

namespace {

bool has_rule(const resolution& r) {
  return !r.rule_type.empty() && (r.reason == "mapping" || r.reason == "passthrough_session" ||
                                  r.reason == "passthrough_fallback");
}

}  // namespace

void append_json(std::string& out, const resolution& r) {
  using namespace std::string_view_literals;
  // Written into room made once: the fixed text (under 320 bytes), two numbers, and every
  // string at its escaped worst.
  std::size_t bound = 512;
  for (std::string_view s :
       {std::string_view(r.utms.source), std::string_view(r.utms.medium),
        std::string_view(r.utms.campaign), std::string_view(r.utms.term),
        std::string_view(r.utms.content), std::string_view(r.reason), std::string_view(r.rule_type),
        std::string_view(r.referrer_host), std::string_view(r.channel)}) {
    bound += json_string_bound(s.size());
  }
  if (r.ai != nullptr) bound += json_string_bound(r.ai->id.size());
  if (r.known != nullptr) {
    bound += json_string_bound(r.known->source.size()) + json_string_bound(r.known->name.size()) +
             json_string_bound(to_string(r.known->category).size());
  }
  if (r.click != nullptr) bound += json_string_bound(r.click->name.size());
  if (r.channel_rule != nullptr) bound += json_string_bound(r.channel_rule->name.size());
  for (const auto& w : r.warnings)
    bound += json_string_bound(w.size()) + 1;
  const std::size_t old = out.size();
  out.resize(old + bound);
  char* p = out.data() + old;
  auto put = [&p](std::string_view s) {
    std::memcpy(p, s.data(), s.size());
    p += s.size();
  };
  auto string = [&p](std::string_view s) {
    p = write_json_string(p, s);
  };
  auto number = [&p](std::int64_t n) {
    p = std::to_chars(p, p + 20, n).ptr;
  };

  put("{\"utm_source\":"sv);
  string(r.utms.source);
  put(",\"utm_medium\":"sv);
  string(r.utms.medium);
  put(",\"utm_campaign\":"sv);
  string(r.utms.campaign);
  put(",\"utm_term\":"sv);
  string(r.utms.term);
  put(",\"utm_content\":"sv);
  string(r.utms.content);
  put(",\"reason\":\""sv);
  put(r.reason);  // one of a fixed set of plain words
  put("\",\"rule\":"sv);
  if (has_rule(r)) {
    put("{\"type\":\""sv);
    put(r.rule_type);
    put("\",\"id\":"sv);
    number(r.rule_id);
    *p++ = '}';
  } else {
    put("null"sv);
  }
  put(",\"referrer_host\":"sv);
  if (r.referrer_host.empty()) {
    put("null"sv);
  } else {
    string(r.referrer_host);
  }
  put(",\"ai_platform\":"sv);
  if (r.ai != nullptr) {
    string(r.ai->id);
  } else {
    put("null"sv);
  }
  put(",\"known_referrer\":"sv);
  if (r.known != nullptr) {
    put("{\"source\":"sv);
    string(r.known->source);
    put(",\"name\":"sv);
    string(r.known->name);
    put(",\"category\":\""sv);
    put(to_string(r.known->category));
    put("\"}"sv);
  } else {
    put("null"sv);
  }
  put(",\"click_id\":"sv);
  if (r.click != nullptr) {
    string(r.click->name);
  } else {
    put("null"sv);
  }
  put(",\"channel\":"sv);
  if (r.channel_rule == nullptr) {
    *p++ = '"';
    put(r.channel);  // the default group's: one of a fixed set of plain words
    *p++ = '"';
  } else {
    string(r.channel);
  }
  put(",\"channel_rule\":"sv);
  if (r.channel_rule != nullptr) {
    put("{\"id\":"sv);
    number(r.channel_rule->id);
    put(",\"name\":"sv);
    string(r.channel_rule->name);
    *p++ = '}';
  } else {
    put("null"sv);
  }
  put(",\"warnings\":["sv);
  for (std::size_t i = 0; i < r.warnings.size(); ++i) {
    if (i > 0) *p++ = ',';
    string(r.warnings[i]);
  }
  put("]}"sv);
  out.resize(static_cast<std::size_t>(p - out.data()));
}

void write_json(json_writer& w, const resolution& r, bool leave_open) {
  w.StartObject();
  w.Key("utm_source");
  write_string(w, r.utms.source);
  w.Key("utm_medium");
  write_string(w, r.utms.medium);
  w.Key("utm_campaign");
  write_string(w, r.utms.campaign);
  w.Key("utm_term");
  write_string(w, r.utms.term);
  w.Key("utm_content");
  write_string(w, r.utms.content);
  w.Key("reason");
  write_string(w, r.reason);
  w.Key("rule");
  if (!has_rule(r)) {
    w.Null();
  } else {
    w.StartObject();
    w.Key("type");
    write_string(w, r.rule_type);
    w.Key("id");
    w.Int64(r.rule_id);
    w.EndObject();
  }
  w.Key("referrer_host");
  if (r.referrer_host.empty()) {
    w.Null();
  } else {
    write_string(w, r.referrer_host);
  }
  w.Key("ai_platform");
  if (r.ai != nullptr) {
    write_string(w, r.ai->id);
  } else {
    w.Null();
  }
  w.Key("known_referrer");
  if (r.known != nullptr) {
    w.StartObject();
    w.Key("source");
    write_string(w, r.known->source);
    w.Key("name");
    write_string(w, r.known->name);
    w.Key("category");
    write_string(w, to_string(r.known->category));
    w.EndObject();
  } else {
    w.Null();
  }
  w.Key("click_id");
  if (r.click != nullptr) {
    write_string(w, r.click->name);
  } else {
    w.Null();
  }
  w.Key("channel");
  write_string(w, r.channel);
  w.Key("channel_rule");
  if (r.channel_rule != nullptr) {
    w.StartObject();
    w.Key("id");
    w.Int64(r.channel_rule->id);
    w.Key("name");
    write_string(w, r.channel_rule->name);
    w.EndObject();
  } else {
    w.Null();
  }
  w.Key("warnings");
  w.StartArray();
  for (const auto& warning : r.warnings)
    write_string(w, warning);
  w.EndArray();
  if (!leave_open) w.EndObject();
}

}  // namespace referrald::domain
