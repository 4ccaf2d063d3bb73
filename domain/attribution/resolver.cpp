#include "domain/attribution/resolver.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <array>

#include "domain/attribution/channels.hpp"
#include "domain/attribution/referrer_facts.hpp"
#include "domain/base/text.hpp"
#include "domain/match/mapping_index.hpp"
#include "domain/web/host.hpp"
#include "domain/web/url.hpp"
#include "infra/metrics.hpp"

namespace referrald::domain {

namespace {

// -- explain -------------------------------------------------------------------------

// The explanation of a resolution: each stage tells it what it checked, and it writes that
// when one was asked for and builds nothing otherwise (a `why` is made by a callable only
// when it is written). A step is {"step","applies","decides","why"} and, where a stage
// lists the rules it checked, "rules"; the first step that applies decides.
class recorder {
 public:
  explicit recorder(json_writer* w) : w_(w) {
    if (w_ != nullptr) w_->StartArray();
  }

  bool on() const { return w_ != nullptr; }
  json_writer& writer() { return *w_; }

  template <class Why>
  void step(std::string_view name, bool applies, Why&& why) {
    step(name, applies, why, [] {});
  }
  // `rules` writes the step's "rules" member, or nothing.
  template <class Why, class Rules>
  void step(std::string_view name, bool applies, Why&& why, Rules&& rules) {
    if (w_ == nullptr) return;
    open_step(name, applies, applies && !decided_, why());
    rules();
    w_->EndObject();
    if (applies) decided_ = true;
  }
  // The channel's step, which applies to every visit and decides no row.
  void channel(std::string_view why) { open_step("channel", true, false, why); }
  void end_channel() { w_->EndObject(); }

  void finish() {
    if (w_ != nullptr) w_->EndArray();
  }

 private:
  void open_step(std::string_view name, bool applies, bool decides, std::string_view why) {
    w_->StartObject();
    w_->Key("step");
    write_string(*w_, name);
    w_->Key("applies");
    w_->Bool(applies);
    w_->Key("decides");
    w_->Bool(decides);
    w_->Key("why");
    write_string(*w_, why);
  }

  json_writer* w_;
  bool decided_ = false;
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
        std::string* slot = &utm_slot(out.utms, i);
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
        std::string* target = &utm_slot(extra, static_cast<std::size_t>(slot));
        if (target->empty()) {
          *target = plain(raw_value) ? std::string(raw_value) : form_decode(raw_value);
        }
      }
    }
  }
  if (more && extra.any()) {
    for (std::size_t i = 0; i < k_utm_names.size(); ++i) {
      std::string* slot = &utm_slot(out.utms, i);
      if (slot->empty() && !utm_slot(extra, i).empty()) {
        *slot = std::move(utm_slot(extra, i));
        out.has_utm = true;
        out.from_parameters = true;
      }
    }
  }
  return out;
}

// -- the stages ------------------------------------------------------------------------

// One resolution in progress: what every stage reads, and the answer so far.
struct work {
  work(const account_state& state, const visit& visit, resolution& answer, recorder& explain)
      : s(state), v(visit), r(answer), x(explain) {}

  const account_state& s;
  const visit& v;
  resolution& r;
  recorder& x;
  const account_settings* settings = s.settings();
  const bool has_referrer = !v.referrer_host.empty();
  const bool use_known = settings == nullptr || settings->known_referrers;
  referrer_facts* facts = nullptr;  // of the referrer's host, when there is a referrer
  regex_budget budget;              // the visit's
  // explain's listings of every rule search again, within a budget of their own: the
  // answer is the same with explain as without it.
  regex_budget listing;

  // No row has decided yet.
  bool open() const { return r.reason.empty(); }
  // A stage looks when it may decide, or to explain.
  bool looks() const { return open() || x.on(); }
  void decide(std::string_view reason, utm_values utms) {
    if (!open()) return;
    r.reason = reason;
    r.utms = std::move(utms);
  }
  utm_values session_or_direct() const {
    return v.session ? *v.session : utm_values{"(direct)", "(none)", "", "", ""};
  }
};

// The referrer's host and what the lists and rules say of it (referrer_facts.hpp).
void classify_referrer(work& w) {
  if (!w.has_referrer) return;
  w.r.referrer_host = w.v.referrer_host;
  w.facts = &referrer_facts::of(w.s, w.v.referrer_host);
  w.r.ai = w.facts->ai(w.v.referrer);
}

// Rows 1 and 2: the landing URL's campaign parameters and click ids.
void landing_parameters(work& w) {
  resolution& r = w.r;
  landing_params params = scan_query(w.v.landing_query, w.settings);
  w.x.step("utm", params.has_utm, [&] {
    if (params.from_parameters) {
      return std::string(
          "the landing URL carries campaign parameters the account's settings "
          "name (utm_* values first)");
    }
    return std::string(params.has_utm ? "the landing URL carries utm_* parameters"
                                      : "the landing URL has no utm_source, utm_medium, "
                                        "utm_campaign, utm_term or utm_content with a value");
  });
  if (params.has_utm) {
    w.decide(reasons::utm, params.utms);
    // A campaign tagged with an AI platform as its source is an AI referral too.
    if (!params.utms.source.empty()) {
      if (const auto* p = ai_platform_list::builtin().lookup(params.utms.source)) r.ai = p;
    }
  }
  r.click = params.click;
  const bool has_click = r.click != nullptr;
  w.x.step("click_id", has_click, [&] {
    return has_click ? "the landing URL carries " + r.click->name + " (" + r.click->platform +
                           (r.click->paid ? ", a paid click" : ", not a paid click") + ")"
                     : "the landing URL has no click id of the known-referrer list " +
                           known_referrer_list::builtin().version();
  });
  if (has_click) w.decide(reasons::click_id, {r.click->source, r.click->medium, "", "", ""});
}

// Row 3: a referrer of the landing site itself, or of the account's own domains.
void internal_navigation(work& w) {
  std::string_view ref = w.v.referrer_host;
  const std::string& landing = w.v.landing_host;
  const bool same_site =
      w.has_referrer && (host_matches_domain(ref, landing) || host_matches_domain(landing, ref));
  const bool own = w.has_referrer && !same_site && w.facts->own();
  const bool internal = same_site || own;
  w.x.step("internal", internal, [&] {
    if (!w.has_referrer) return std::string("there is no referrer");
    if (own) return "the referrer host " + quote(ref) + " is one of the account's own domains";
    return internal ? "the referrer host " + quote(ref) + " belongs to the landing site " +
                          quote(landing)
                    : "the referrer host " + quote(ref) + " is outside the landing site " +
                          quote(landing) + " and the account's own domains";
  });
  if (internal) w.decide(reasons::internal, w.session_or_direct());
}

// Row 4: the account's passthrough referrers.
void passthrough_rules(work& w) {
  const passthrough_referrer* pass = w.has_referrer && w.looks() ? w.facts->passthrough() : nullptr;
  w.x.step(
      "passthrough", pass != nullptr,
      [&] {
        if (pass == nullptr)
          return std::string("no active passthrough referrer covers the referrer host");
        return "passthrough referrer " + std::to_string(pass->id) + " (" + quote(pass->domain) +
               ") covers the referrer host" +
               (w.v.session ? "; the session's UTMs are kept"
                            : "; no session, so the rule's UTMs apply");
      },
      [&] {
        if (w.has_referrer) explain_passthrough(w.x.writer(), w.s, w.v.referrer_host, pass);
      });
  if (pass == nullptr || !w.open()) return;
  w.r.rule_type = "passthrough";
  w.r.rule_id = pass->id;
  if (w.v.session) {
    w.decide(reasons::passthrough_session, *w.v.session);
  } else {
    w.decide(reasons::passthrough_fallback,
             {pass->utm_source, pass->utm_medium, pass->utm_campaign, pass->utm_term, ""});
  }
}

// Row 5: the account's referrer mappings.
void mapping_rules(work& w) {
  const auto& index = w.s.mappings_index();
  const referrer_mapping* map =
      w.has_referrer && index && w.looks() ? w.facts->mapping(w.budget) : nullptr;
  w.x.step(
      "mapping", map != nullptr,
      [&] {
        if (map == nullptr) return std::string("no active mapping matches the referrer host");
        return "mapping " + std::to_string(map->id) + " (" +
               std::string(to_string(map->match_type)) + " " + quote(map->referrer_pattern) +
               ", priority " + std::to_string(map->priority) + ") wins among the matches";
      },
      [&] {
        if (w.has_referrer && index) {
          explain_mappings(w.x.writer(), *index, w.v.referrer_host, map, w.listing);
        }
      });
  if (map == nullptr || !w.open()) return;
  w.r.rule_type = "mapping";
  w.r.rule_id = map->id;
  w.decide(reasons::mapping,
           {map->utm_source, map->utm_medium, map->utm_campaign, map->utm_term, map->utm_content});
}

// Rows 6 and 7: the AI-platform and known-referrer lists.
void listed_sites(work& w) {
  resolution& r = w.r;
  w.x.step("ai_platform", r.ai != nullptr, [&] {
    const std::string& version = ai_platform_list::builtin().version();
    return r.ai != nullptr ? "the referrer is " + r.ai->name + " (AI platform list " + version + ")"
                           : "the referrer is not on the AI platform list " + version;
  });
  if (r.ai != nullptr) w.decide(reasons::ai_platform, {r.ai->id, "ai", "", "", ""});

  const known_referrer* site =
      w.use_known && w.has_referrer && w.looks() ? w.facts->known(w.v.referrer_path) : nullptr;
  w.x.step("known_referrer", site != nullptr, [&] {
    const std::string& version = known_referrer_list::builtin().version();
    if (!w.use_known) return std::string("the account's settings turn the known-referrer list off");
    if (site == nullptr) {
      return "the referrer host " + quote(w.v.referrer_host) +
             " is not on the known-referrer list " + version;
    }
    return "the referrer is " + site->name + " (" + std::string(to_string(site->category)) +
           ", source " + quote(site->source) + ", medium " + quote(site->medium) +
           "; known-referrer list " + version + ")";
  });
  if (site == nullptr || !w.open()) return;
  r.known = site;
  std::string term = site->search_params.empty() || !w.v.referrer_query
                         ? std::string()
                         : known_referrer_list::search_term_in(*site, *w.v.referrer_query);
  w.decide(reasons::known_referrer, {site->source, site->medium, "", std::move(term), ""});
}

// Rows 8 and 9: any other referrer, and none.
void plain_referrer(work& w) {
  const bool has = w.has_referrer;
  w.x.step("referral", has,
           [&] { return std::string(has ? "there is a referrer" : "there is no referrer"); });
  if (has) w.decide(reasons::referral, {w.v.referrer_host, "referral", "", "", ""});
  w.x.step("direct", !has, [&] {
    if (has) return std::string("there is a referrer");
    return std::string(w.v.session ? "no referrer; the session's UTMs are kept"
                                   : "no referrer and no session");
  });
  if (!has) w.decide(reasons::direct, w.session_or_direct());
}

// The explanation's listing of the account's channel rules.
void explain_channel_rules(work& w, std::span<const channel_rule* const> rules,
                           const channel_facts& facts) {
  json_writer& out = w.x.writer();
  const resolution& r = w.r;
  out.Key("rules");
  out.StartArray();
  for (const channel_rule* rule : rules) {
    out.StartObject();
    out.Key("id");
    out.Int64(rule->id);
    out.Key("name");
    write_string(out, rule->name);
    out.Key("channel");
    write_string(out, rule->channel);
    out.Key("priority");
    out.Int64(rule->priority);
    bool untried = rule->regex != nullptr && w.listing.exhausted();
    bool matched = rule == r.channel_rule || rule->matches(facts, &w.listing);
    untried = untried && !matched;
    out.Key("matched");
    out.Bool(matched);
    out.Key("note");
    write_string(out, rule == r.channel_rule ? "matches; the first rule that does"
                      : matched              ? "matches, but channel rule " +
                                      std::to_string(r.channel_rule->id) + " comes first"
                      : untried
                          ? std::string("not tried: the regex budget of the visit was used up")
                          : std::string("a condition does not hold"));
    out.EndObject();
  }
  out.EndArray();
}

// The channel, on the final answer: the account's channel rules, then the default group.
void channel(work& w) {
  resolution& r = w.r;
  std::vector<const channel_rule*> scratch;
  auto rules = w.s.channel_rules(scratch);
  const channel_facts facts{
      r.utms.source,      r.utms.medium,
      r.utms.campaign,    w.v.referrer_host,
      r.click != nullptr, w.v.landing_path.empty() ? std::string_view("/") : w.v.landing_path};
  std::string why;
  for (const channel_rule* rule : rules) {
    if (!rule->matches(facts, &w.budget)) continue;
    r.channel_rule = rule;
    r.channel = rule->channel;
    if (w.x.on()) {
      why = rule->channel + ": channel rule " + std::to_string(rule->id) + " (" +
            quote(rule->name) + ", priority " + std::to_string(rule->priority) +
            ") matches; the first of the account's " + std::to_string(rules.size()) +
            " active channel rules that does";
    }
    break;
  }
  if (r.channel_rule == nullptr) {
    if (w.settings == nullptr || w.settings->default_channel_group) {
      // A referral's source is its host, which rank 7 looked up in vain (when it looked).
      auto decide = [&] {
        return default_channel({r.utms.source, r.utms.medium, r.utms.campaign, r.known,
                                r.ai != nullptr, r.reason == reasons::referral && w.use_known},
                               known_referrer_list::builtin());
      };
      // A mapping's visits from one host all have the mapping's values.
      auto ch = r.reason == reasons::mapping && rules.empty() && w.facts != nullptr
                    ? w.facts->mapping_channel(r.ai, decide)
                    : decide();
      r.channel = ch.channel;
      if (w.x.on()) {
        why = std::string(ch.channel) + ": " + std::string(ch.condition);
        if (!rules.empty()) why += " (no channel rule of the account matches)";
      }
    } else {
      r.channel = "Unassigned";
      why =
          "Unassigned: no channel rule of the account matches, and its settings turn the "
          "default channel group off";
    }
  }
  if (!w.x.on()) return;
  w.x.channel(why);
  if (!rules.empty()) explain_channel_rules(w, rules, facts);
  w.x.end_channel();
}

}  // namespace

resolution resolve(const account_state& s, const visit& v, json_writer* explain) {
  resolution r;
  r.warnings = v.warnings;
  recorder x(explain);
  work w(s, v, r, x);
  classify_referrer(w);
  landing_parameters(w);
  internal_navigation(w);
  passthrough_rules(w);
  mapping_rules(w);
  listed_sites(w);
  plain_referrer(w);
  channel(w);
  r.regex_steps = w.budget.spent() + w.listing.spent();
  if (w.budget.exhausted()) {
    infra::metrics().regex_budget_exhausted.fetch_add(1, std::memory_order_relaxed);
    r.warnings.push_back(w.budget.warning());
  }
  x.finish();
  return r;
}

}  // namespace referrald::domain
