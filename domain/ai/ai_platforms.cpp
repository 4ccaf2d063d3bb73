#include "domain/ai/ai_platforms.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <stdexcept>

#include "domain/base/text.hpp"
#include "domain/web/host.hpp"
#include "domain/web/url.hpp"

namespace referrald::domain {

extern const char k_ai_platforms_json[];

namespace {

constexpr std::string_view k_app_scheme = "android-app://";

}  // namespace

const ai_platform_list& ai_platform_list::builtin() {
  static const ai_platform_list list = [] {
    auto parsed = parse(k_ai_platforms_json);
    if (!parsed) throw std::logic_error("built-in AI platform list: " + parsed.err().message);
    return std::move(*parsed);
  }();
  return list;
}

result<ai_platform_list> ai_platform_list::parse(std::string_view json) {
  auto bad = [](const std::string& why) {
    return make_error(errc::internal, "AI platform list: " + why);
  };
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) return bad("not a JSON object");
  auto version = doc.FindMember("version");
  auto platforms = doc.FindMember("platforms");
  if (version == doc.MemberEnd() || !version->value.IsString() || platforms == doc.MemberEnd() ||
      !platforms->value.IsArray()) {
    return bad("needs a version and a platforms array");
  }
  ai_platform_list list;
  list.version_ = version->value.GetString();
  for (const auto& p : platforms->value.GetArray()) {
    if (!p.IsObject() || !p.HasMember("id") || !p["id"].IsString() || !p.HasMember("name") ||
        !p["name"].IsString()) {
      return bad("every platform needs an id and a name");
    }
    ai_platform ap;
    ap.id = p["id"].GetString();
    ap.name = p["name"].GetString();
    if (!read_string_list(p, "hosts", ap.hosts) || !read_string_list(p, "paths", ap.paths) ||
        !read_string_list(p, "app_ids", ap.app_ids) ||
        !read_string_list(p, "source_names", ap.source_names) ||
        !read_string_list(p, "sources", ap.sources)) {
      return bad(ap.id +
                 ": hosts, paths, app_ids, source_names and sources must be lists of strings");
    }
    std::size_t index = list.platforms_.size();
    auto claim = [&](table& t, const std::string& key) {
      return t.emplace(key, index);
    };
    for (const auto& h : ap.hosts) {
      if (h.find('/') != std::string::npos ||
          !list.sites_.add(h, static_cast<site_catalogue::site>(index)))
        return bad("host " + h + " is listed twice");
    }
    for (const auto& a : ap.app_ids) {
      if (!claim(list.app_ids_, a)) return bad("app id " + a + " is listed twice");
    }
    for (const auto& n : ap.source_names) {
      if (!claim(list.names_, n)) return bad("source name " + n + " is listed twice");
    }
    for (const auto& path : ap.paths) {
      auto slash = path.find('/');
      if (slash == std::string::npos || slash == 0 ||
          !list.sites_.add(path, static_cast<site_catalogue::site>(index)))
        return bad("path " + path + " needs host/prefix");
    }
    list.platforms_.push_back(std::move(ap));
  }
  return list;
}

const ai_platform* ai_platform_list::find(const table& t, std::string_view key) const {
  const auto* i = t.find(key);
  return i == nullptr ? nullptr : &platforms_[*i];
}

const ai_platform* ai_platform_list::lookup(std::string_view raw) const {
  auto host = normalize_host(raw, idna_mode::browser);
  return lookup(raw, host ? std::string_view(*host) : std::string_view());
}

bool ai_platform_list::raw_decides(std::string_view raw) {
  std::string_view value = trim(raw);
  return value.empty() ||
         (value.size() > k_app_scheme.size() &&
          equals_lower_ascii(value.substr(0, k_app_scheme.size()), k_app_scheme)) ||
         find_first_of<'/', ':', '?', '#'>(value) == std::string_view::npos;
}

const ai_platform* ai_platform_list::lookup_host(std::string_view host) const {
  if (host.empty()) return nullptr;
  if (const auto* p = find(app_ids_, host)) return p;
  auto s = sites_.by_host(host);
  return s ? &platforms_[*s] : nullptr;
}

const ai_platform* ai_platform_list::lookup(std::string_view raw, std::string_view host) const {
  std::string_view value = trim(raw);
  if (value.empty()) return nullptr;
  if (value.size() > k_app_scheme.size() &&
      equals_lower_ascii(value.substr(0, k_app_scheme.size()), k_app_scheme)) {
    std::string_view rest = value.substr(k_app_scheme.size());
    return find(app_ids_, to_lower_ascii(rest.substr(0, rest.find('/'))));
  }
  // A source name is a bare token ("chatgpt", "le chat"), not a URL.
  if (find_first_of<'/', ':', '?', '#'>(value) == std::string_view::npos) {
    if (const auto* p = find(names_, to_lower_ascii(value))) return p;
  }
  if (host.empty()) return nullptr;
  if (const auto* p = find(app_ids_, host)) return p;
  if (sites_.has_paths(host)) {
    auto url = parse_url(value, idna_mode::browser);
    if (auto s = sites_.by_path(host, url ? std::string_view(url->path) : std::string_view())) {
      return &platforms_[*s];
    }
  }
  auto s = sites_.by_host(host);
  return s ? &platforms_[*s] : nullptr;
}

void ai_platform_list::write_json(json_writer& w) const {
  w.StartObject();
  w.Key("version");
  write_string(w, version_);
  w.Key("platforms");
  w.StartArray();
  for (const auto& p : platforms_) {
    w.StartObject();
    w.Key("id");
    write_string(w, p.id);
    w.Key("name");
    write_string(w, p.name);
    write_string_list(w, "hosts", p.hosts);
    write_string_list(w, "paths", p.paths);
    write_string_list(w, "app_ids", p.app_ids);
    write_string_list(w, "source_names", p.source_names);
    write_string_list(w, "sources", p.sources);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

}  // namespace referrald::domain
