#include "domain/attribution/visit.hpp"

#include <rapidjson/document.h>

#include <algorithm>

#include "domain/base/json.hpp"
#include "domain/base/text.hpp"
#include "domain/web/host.hpp"
#include "domain/web/url.hpp"

namespace referrald::domain {

namespace {

constexpr std::size_t k_url_max = 8192;

constexpr std::string_view k_url_reading =
    "Over 8192 bytes, it is read without its fragment, then its longest query parameters (then "
    "its path) until it fits, with a warning";

constexpr visit_field k_fields[] = {
    {visit_field_id::referrer, "referrer", false,
     "the document.referrer of the visit; null or empty: none"},
    {visit_field_id::landing_url, "landing_url", true, "the URL the visit landed on"},
    {visit_field_id::session, "session", false, "the utm values the visit's session already holds"},
};

constexpr std::array<std::string_view, std::size(k_fields)> k_names = {
    k_fields[0].name, k_fields[1].name, k_fields[2].name};

std::string_view name_of(visit_field_id id) { return k_fields[static_cast<std::size_t>(id)].name; }

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

void read_referrer(std::string_view text, visit& v) {
  std::string_view raw = trim(text);
  if (raw.size() > k_url_max) {
    raw = shorten_url(raw, "the referrer", short_url_scratch(), v.warnings);
  }
  if (raw.empty()) return;
  v.referrer.assign(raw);
  // Parsed once: the host, and the path and query rank 7 may read.
  if (url_parts plain; read_plain_url(raw, plain)) {
    v.referrer_host.assign(normalized_domain(plain.host));
    v.referrer_path.assign(plain.path);
    if (plain.query) {
      assign_optional(v.referrer_query, *plain.query);
    } else {
      v.referrer_query.reset();
    }
    return;
  }
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
}

void read_landing(std::string_view text, visit& v) {
  std::string_view raw = trim(text);
  if (raw.size() > k_url_max) {
    raw = shorten_url(raw, "the landing URL", short_url_scratch(), v.warnings);
    if (raw.empty()) return;
  }
  if (url_parts plain; read_plain_url(raw, plain)) {
    if (plain.query) v.landing_query.assign(*plain.query);
    v.landing_path.assign(plain.path);
    v.landing_host.assign(normalized_domain(plain.host));
    return;
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
}

std::optional<std::string> read_session_value(std::string_view text, std::string& slot) {
  std::string_view value = trim(text);
  if (auto bad = forbidden_character(value); !bad.empty()) return "must not contain " + bad;
  slot.assign(value);
  return std::nullopt;
}

}  // namespace

std::string& utm_slot(utm_values& u, std::size_t i) {
  std::string* slots[] = {&u.source, &u.medium, &u.campaign, &u.term, &u.content};
  return *slots[i];
}

std::span<const visit_field> visit_fields() { return k_fields; }

bool read_visit(const visit_text& text, visit& out, std::vector<visit_problem>* problems) {
  reset(out);
  if (text.referrer) read_referrer(*text.referrer, out);
  read_landing(text.landing_url, out);
  bool ok = true;
  if (text.has_session) {
    utm_values s;
    for (std::size_t i = 0; i < k_utm_names.size(); ++i) {
      if (!text.session[i]) continue;
      if (auto problem = read_session_value(*text.session[i], utm_slot(s, i))) {
        ok = false;
        if (problems == nullptr) return false;
        problems->push_back({visit_field_id::session, k_utm_names[i], std::move(*problem)});
      }
    }
    if (s.any()) out.session = std::move(s);
  }
  return ok;
}

result<visit> parse_visit(const rapidjson::Value& body, std::optional<std::size_t> index,
                          bool among_others) {
  field_reader in(body, k_names, among_others);
  // Problems in the order the fields are read: by field, then by a session member's place.
  struct ranked {
    std::size_t field, member;
    std::string name, message;
  };
  std::vector<ranked> found;
  auto fail = [&](visit_field_id f, std::size_t member, std::string name, std::string message) {
    found.push_back({static_cast<std::size_t>(f), member, std::move(name), std::move(message)});
  };
  visit_text text;
  std::array<std::size_t, 5> session_place{};
  if (body.IsObject()) {
    for (const auto& field : k_fields) {
      auto it = body.FindMember(rapidjson::StringRef(field.name.data(), field.name.size()));
      const bool absent = it == body.MemberEnd();
      if (field.required && absent) {
        fail(field.id, 0, std::string(field.name), "is required");
        continue;
      }
      if (absent || (!field.required && it->value.IsNull())) continue;
      const rapidjson::Value& value = it->value;
      switch (field.id) {
        case visit_field_id::referrer:
        case visit_field_id::landing_url:
          if (!value.IsString()) {
            fail(field.id, 0, std::string(field.name),
                 field.required ? "must be a string" : "must be a string or null");
          } else if (field.id == visit_field_id::referrer) {
            text.referrer = std::string_view(value.GetString(), value.GetStringLength());
          } else {
            text.landing_url = std::string_view(value.GetString(), value.GetStringLength());
          }
          break;
        case visit_field_id::session: {
          if (!value.IsObject()) {
            fail(field.id, 0, std::string(field.name),
                 "must be an object of utm_* values, or null");
            break;
          }
          text.has_session = true;
          unsigned seen = 0;  // a name given twice is refused, as at the top level
          std::size_t place = 0;
          for (auto m = value.MemberBegin(); m != value.MemberEnd(); ++m, ++place) {
            std::string_view key(m->name.GetString(), m->name.GetStringLength());
            auto which = static_cast<std::size_t>(
                std::find(k_utm_names.begin(), k_utm_names.end(), key) - k_utm_names.begin());
            const std::string prefix = std::string(field.name) + ".";
            if (which == k_utm_names.size()) {
              fail(field.id, place, prefix + excerpt(key),
                   "is not a session field (utm_source, utm_medium, utm_campaign, utm_term, "
                   "utm_content)");
              continue;
            }
            if ((seen >> which & 1u) != 0) {
              fail(field.id, place, prefix + std::string(key), "is given more than once");
              continue;
            }
            seen |= 1u << which;
            if (m->value.IsNull()) continue;
            if (!m->value.IsString()) {
              fail(field.id, place, prefix + std::string(key), "must be a string or null");
              continue;
            }
            text.session[which] =
                std::string_view(m->value.GetString(), m->value.GetStringLength());
            session_place[which] = place;
          }
          break;
        }
      }
    }
  }
  visit v;
  std::vector<visit_problem> problems;
  const bool readable = in.finish() && found.empty();
  if (!read_visit(text, v, &problems) || !readable) {
    for (auto& p : problems) {
      auto which = static_cast<std::size_t>(
          std::find(k_utm_names.begin(), k_utm_names.end(), p.member) - k_utm_names.begin());
      fail(p.field, session_place[which],
           std::string(name_of(p.field)) + "." + std::string(p.member), std::move(p.message));
    }
    std::stable_sort(found.begin(), found.end(), [](const ranked& a, const ranked& b) {
      return a.field != b.field ? a.field < b.field : a.member < b.member;
    });
    for (auto& p : found)
      in.fail(std::move(p.name), std::move(p.message));
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

namespace {

bool plain_string(const json_member& m) { return m.kind == json_kind::string && !m.value_escaped; }

}  // namespace

bool read_visit_members(std::span<const json_member> members, bool among_others,
                        std::vector<json_member>& scratch, visit& out) {
  std::array<const json_member*, std::size(k_fields)> found{};
  for (const auto& m : members) {
    if (m.key_escaped) return false;
    auto which = static_cast<std::size_t>(std::find(k_names.begin(), k_names.end(), m.key) -
                                          k_names.begin());
    if (which == k_names.size()) {
      if (!among_others) return false;
      continue;
    }
    if (found[which] != nullptr) return false;
    found[which] = &m;
  }
  visit_text text;
  for (const auto& field : k_fields) {
    const json_member* m = found[static_cast<std::size_t>(field.id)];
    if (m == nullptr) {
      if (field.required) return false;
      continue;
    }
    if (m->kind == json_kind::null && !field.required) continue;
    switch (field.id) {
      case visit_field_id::referrer:
        if (!plain_string(*m)) return false;
        text.referrer = m->value;
        break;
      case visit_field_id::landing_url:
        if (!plain_string(*m)) return false;
        text.landing_url = m->value;
        break;
      case visit_field_id::session: {
        if (m->kind != json_kind::object || !scan_object(m->value, scratch)) return false;
        text.has_session = true;
        unsigned seen = 0;  // a repeated name (even after a null) is the parser's to read
        for (const auto& s : scratch) {
          auto which = static_cast<std::size_t>(
              std::find(k_utm_names.begin(), k_utm_names.end(), s.key) - k_utm_names.begin());
          if (s.key_escaped || which == k_utm_names.size() || (seen >> which & 1u) != 0) {
            return false;
          }
          seen |= 1u << which;
          if (s.kind == json_kind::null) continue;
          if (!plain_string(s)) return false;
          text.session[which] = s.value;
        }
        break;
      }
    }
  }
  return read_visit(text, out);
}

visit_columns::visit_columns(std::span<const std::string> header) {
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i] == column_name(visit_field_id::referrer)) referrer_ = i;
    if (header[i] == column_name(visit_field_id::landing_url)) landing_url_ = i;
    for (std::size_t u = 0; u < k_utm_names.size(); ++u) {
      if (header[i] == column_name(visit_field_id::session, k_utm_names[u])) session_[u] = i;
    }
  }
}

bool visit_columns::complete() const { return landing_url_.has_value(); }

std::string visit_columns::column_name(visit_field_id field, std::string_view member) {
  std::string name(name_of(field));
  if (!member.empty()) name += "_" + std::string(member);
  return name;
}

bool visit_columns::read(std::span<const std::string> fields, visit& out, std::string& column,
                         std::string& message) const {
  auto at = [&](std::size_t i) {
    return i < fields.size() ? std::string_view(fields[i]) : std::string_view();
  };
  visit_text text;
  if (referrer_) text.referrer = at(*referrer_);
  text.landing_url = landing_url_ ? at(*landing_url_) : std::string_view();
  for (std::size_t u = 0; u < k_utm_names.size(); ++u) {
    if (!session_[u] || at(*session_[u]).empty()) continue;
    text.session[u] = at(*session_[u]);
    text.has_session = true;
  }
  std::vector<visit_problem> problems;
  if (read_visit(text, out, &problems)) return true;
  column = column_name(problems.front().field, problems.front().member);
  message = std::move(problems.front().message);
  return false;
}

std::string visit_json_schema() {
  std::string out = R"({"type":"object","required":[)";
  bool first = true;
  for (const auto& field : k_fields) {
    if (!field.required) continue;
    if (!first) out += ',';
    first = false;
    append_json_string(out, field.name);
  }
  out += R"(],"additionalProperties":false,"properties":{)";
  for (std::size_t i = 0; i < std::size(k_fields); ++i) {
    const visit_field& field = k_fields[i];
    if (i > 0) out += ',';
    append_json_string(out, field.name);
    std::string description(field.description);
    if (field.id == visit_field_id::session) {
      out += R"(:{"type":["object","null"],"additionalProperties":false,"properties":{)";
      for (std::size_t u = 0; u < k_utm_names.size(); ++u) {
        if (u > 0) out += ',';
        append_json_string(out, k_utm_names[u]);
        out += R"(:{"type":["string","null"]})";
      }
      out += "}";
    } else {
      out += field.required ? R"(:{"type":"string")" : R"(:{"type":["string","null"])";
      description += ". " + std::string(k_url_reading);
    }
    out += R"(,"description":)";
    append_json_string(out, description);
    out += '}';
  }
  out += "}}";
  return out;
}

}  // namespace referrald::domain
