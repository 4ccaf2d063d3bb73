#include "domain/attribution/known_referrers.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <optional>
#include <stdexcept>

#include "domain/base/text.hpp"
#include "domain/web/host.hpp"
#include "domain/web/url.hpp"

namespace referrald::domain {

extern const char k_known_referrers_json[];

namespace {

constexpr std::pair<std::string_view, referrer_category> k_categories[] = {
    {"search", referrer_category::search},     {"social", referrer_category::social},
    {"email", referrer_category::email},       {"video", referrer_category::video},
    {"shopping", referrer_category::shopping}, {"paid", referrer_category::paid},
    {"unknown", referrer_category::unknown}};

std::string string_of(const rapidjson::Value& obj, const char* key) {
  auto it = obj.FindMember(key);
  return it != obj.MemberEnd() && it->value.IsString()
             ? std::string(it->value.GetString(), it->value.GetStringLength())
             : std::string();
}

}  // namespace

std::string_view to_string(referrer_category c) {
  for (auto [name, value] : k_categories)
    if (value == c) return name;
  return "unknown";
}

const known_referrer_list& known_referrer_list::builtin() {
  static const known_referrer_list list = [] {
    auto parsed = parse(k_known_referrers_json);
    if (!parsed) throw std::logic_error("built-in known-referrer list: " + parsed.err().message);
    return std::move(*parsed);
  }();
  return list;
}

result<known_referrer_list> known_referrer_list::parse(std::string_view json) {
  auto bad = [](const std::string& why) {
    return make_error(errc::internal, "known-referrer list: " + why);
  };
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) return bad("not a JSON object");
  auto version = doc.FindMember("version");
  auto lists = doc.FindMember("lists");
  auto referrers = doc.FindMember("referrers");
  auto clicks = doc.FindMember("click_ids");
  if (version == doc.MemberEnd() || !version->value.IsString() || lists == doc.MemberEnd() ||
      !lists->value.IsArray() || referrers == doc.MemberEnd() || !referrers->value.IsArray() ||
      clicks == doc.MemberEnd() || !clicks->value.IsArray()) {
    return bad("needs a version and lists, click_ids and referrers arrays");
  }
  known_referrer_list out;
  out.version_ = version->value.GetString();
  for (const auto& l : lists->value.GetArray()) {
    if (!l.IsObject()) return bad("every list is an object");
    out.lists_.push_back({string_of(l, "id"), string_of(l, "origin"), string_of(l, "revision")});
  }
  for (const auto& c : clicks->value.GetArray()) {
    if (!c.IsObject() || !c.HasMember("paid") || !c["paid"].IsBool())
      return bad("every click id is an object with paid");
    click_id id{to_lower_ascii(string_of(c, "name")),
                string_of(c, "source"),
                string_of(c, "medium"),
                c["paid"].GetBool(),
                string_of(c, "platform"),
                string_of(c, "documentation")};
    if (id.name.empty() || id.source.empty() || id.medium.empty())
      return bad("every click id needs a name, a source and a medium");
    if (!out.clicks_.emplace(id.name, out.click_ids_.size()))
      return bad("click id " + id.name + " is listed twice");
    out.click_ids_.push_back(std::move(id));
  }
  for (const auto& r : referrers->value.GetArray()) {
    if (!r.IsObject()) return bad("every referrer is an object");
    known_referrer e;
    e.source = string_of(r, "source");
    e.name = string_of(r, "name");
    e.medium = string_of(r, "medium");
    std::string category = string_of(r, "category");
    bool known_category = false;
    for (auto [name, value] : k_categories) {
      if (name == category) {
        e.category = value;
        known_category = true;
      }
    }
    if (e.source.empty() || e.name.empty() || e.medium.empty() || !known_category)
      return bad("every referrer needs a source, a name, a medium and a known category");
    if (!read_string_list(r, "hosts", e.hosts) || !read_string_list(r, "lists", e.lists) ||
        (r.HasMember("paths") && !read_string_list(r, "paths", e.paths)) ||
        (r.HasMember("search_params") && !read_string_list(r, "search_params", e.search_params))) {
      return bad(e.name + ": hosts, paths, search_params and lists must be lists of strings");
    }
    std::size_t index = out.referrers_.size();
    for (const auto& h : e.hosts) {
      if (h.find('/') != std::string::npos ||
          !out.sites_.add(h, static_cast<site_catalogue::site>(index)))
        return bad("host " + h + " is listed twice or empty");
    }
    for (const auto& p : e.paths) {
      auto slash = p.find('/');
      if (slash == std::string::npos || slash == 0 ||
          !out.sites_.add(p, static_cast<site_catalogue::site>(index)))
        return bad("path " + p + " needs host/prefix");
    }
    // A source's main entry (for the channel group): the first of a category other than
    // paid and unknown, else the first.
    if (!out.sources_.emplace(e.source, index)) {
      std::size_t& main = out.sources_[e.source];
      auto held = out.referrers_[main].category;
      bool weak = held == referrer_category::paid || held == referrer_category::unknown;
      if (weak && e.category != referrer_category::paid &&
          e.category != referrer_category::unknown) {
        main = index;
      }
    }
    out.referrers_.push_back(std::move(e));
  }
  return out;
}

const known_referrer* known_referrer_list::lookup_host(std::string_view host) const {
  auto s = sites_.by_host(host);
  return s ? &referrers_[*s] : nullptr;
}

const known_referrer* known_referrer_list::lookup(std::string_view raw,
                                                  std::string_view host) const {
  if (host.empty()) return nullptr;
  auto url = parse_url(trim(raw), idna_mode::browser);
  return lookup_parsed(host, url ? std::string_view(url->path) : std::string_view());
}

const known_referrer* known_referrer_list::lookup_parsed(std::string_view host,
                                                         std::string_view path) const {
  auto s = sites_.find(host, path);
  return s ? &referrers_[*s] : nullptr;
}

const click_id* known_referrer_list::find_click_id(std::string_view name) const {
  if (name.size() > 16) return nullptr;
  char lower[16];
  for (std::size_t i = 0; i < name.size(); ++i)
    lower[i] = name[i] >= 'A' && name[i] <= 'Z' ? static_cast<char>(name[i] - 'A' + 'a') : name[i];
  const auto* i = clicks_.find(std::string_view(lower, name.size()));
  return i == nullptr ? nullptr : &click_ids_[*i];
}

const known_referrer* known_referrer_list::by_source(std::string_view source) const {
  if (source.empty() || source.size() > 253) return nullptr;
  char buf[253];  // lowercased without allocating: this runs for every resolution
  for (std::size_t i = 0; i < source.size(); ++i)
    buf[i] =
        source[i] >= 'A' && source[i] <= 'Z' ? static_cast<char>(source[i] - 'A' + 'a') : source[i];
  std::string_view lower(buf, source.size());
  if (const auto* i = sources_.find(lower)) return &referrers_[*i];
  if (lower.find('.') == std::string_view::npos) return nullptr;
  if (lower.starts_with("www.")) lower.remove_prefix(4);
  return lookup_host(lower);
}

std::string known_referrer_list::search_term(const known_referrer& entry, std::string_view raw) {
  if (entry.search_params.empty()) return {};
  auto url = parse_url(trim(raw), idna_mode::browser);
  if (!url || !url->query) return {};
  return search_term_in(entry, *url->query);
}

std::string known_referrer_list::search_term_in(const known_referrer& entry,
                                                std::string_view query_all) {
  for (const auto& wanted : entry.search_params) {
    std::string_view query = query_all;
    while (!query.empty()) {
      std::size_t amp = query.find('&');
      std::string_view part = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
      std::size_t eq = part.find('=');
      if (eq == std::string_view::npos) continue;
      std::string_view name = part.substr(0, eq);
      bool plain = find_first_of<'%', '+'>(name) == std::string_view::npos;
      if (!(plain ? equals_lower_ascii(name, wanted)
                  : equals_lower_ascii(form_decode(name), wanted)))
        continue;
      std::string term(trim(form_decode(part.substr(eq + 1))));
      if (!term.empty() && forbidden_character(term).empty()) return term;
    }
  }
  return {};
}

void known_referrer_list::write_json(json_writer& w) const {
  w.StartObject();
  w.Key("version");
  write_string(w, version_);
  w.Key("lists");
  w.StartArray();
  for (const auto& l : lists_) {
    w.StartObject();
    w.Key("id");
    write_string(w, l.id);
    w.Key("origin");
    write_string(w, l.origin);
    w.Key("revision");
    write_string(w, l.revision);
    w.EndObject();
  }
  w.EndArray();
  w.Key("click_ids");
  w.StartArray();
  for (const auto& c : click_ids_) {
    w.StartObject();
    w.Key("name");
    write_string(w, c.name);
    w.Key("source");
    write_string(w, c.source);
    w.Key("medium");
    write_string(w, c.medium);
    w.Key("paid");
    w.Bool(c.paid);
    w.Key("platform");
    write_string(w, c.platform);
    w.Key("documentation");
    write_string(w, c.doc);
    w.EndObject();
  }
  w.EndArray();
  w.Key("referrers");
  w.StartArray();
  for (const auto& r : referrers_) {
    w.StartObject();
    w.Key("source");
    write_string(w, r.source);
    w.Key("name");
    write_string(w, r.name);
    w.Key("category");
    write_string(w, to_string(r.category));
    w.Key("medium");
    write_string(w, r.medium);
    write_string_list(w, "hosts", r.hosts);
    write_string_list(w, "paths", r.paths);
    write_string_list(w, "search_params", r.search_params);
    write_string_list(w, "lists", r.lists);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

}  // namespace referrald::domain
