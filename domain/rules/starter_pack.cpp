#include "domain/rules/starter_pack.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "domain/rules/entities.hpp"

namespace referrald::domain {

extern const char k_starter_pack_json[];

namespace {

struct pack {
  std::string json;
  std::string version;
  result<std::vector<passthrough_referrer>> rules = std::vector<passthrough_referrer>{};
  std::vector<starter_pack_entry> entries;
  site_catalogue sites;
};

const pack& the_pack() {
  static const pack p = [] {
    pack out;
    rapidjson::Document doc;
    doc.Parse(k_starter_pack_json);
    if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("entries")) {
      out.rules = make_error(errc::internal, "the starter pack data is not valid JSON");
      out.json = R"({"version":null,"entries":[]})";
      return out;
    }
    out.version = doc["version"].GetString();
    rapidjson::StringBuffer buf;
    json_writer w(buf);
    w.StartObject();
    w.Key("version");
    write_string(w, out.version);
    w.Key("entries");
    w.StartArray();
    std::vector<passthrough_referrer> rules;
    std::size_t i = 0;
    for (const auto& e : doc["entries"].GetArray()) {
      out.entries.push_back({e["domain"].GetString(), e["service_name"].GetString(),
                             e["category"].GetString(), e["utm_source"].GetString()});
      w.StartObject();
      for (const char* key : {"domain", "service_name", "category", "utm_source", "source"}) {
        w.Key(key);
        write_string(w, e[key].GetString());
      }
      w.EndObject();
      rapidjson::Document body(rapidjson::kObjectType);
      auto& a = body.GetAllocator();
      body.AddMember("domain", rapidjson::Value(e["domain"], a), a);
      body.AddMember("utm_source", rapidjson::Value(e["utm_source"], a), a);
      body.AddMember("service_name", rapidjson::Value(e["service_name"], a), a);
      auto rule = parse_create<passthrough_referrer>(body);
      if (!rule) {
        out.rules =
            make_error(errc::internal, "starter pack entry " + std::to_string(i) + " (" +
                                           e["domain"].GetString() + "): " + rule.err().message);
      } else {
        out.sites.add(rule->domain, static_cast<site_catalogue::site>(i));
        if (out.rules) out.rules->push_back(std::move(*rule));
      }
      ++i;
    }
    w.EndArray();
    w.EndObject();
    out.json.assign(buf.GetString(), buf.GetSize());
    return out;
  }();
  return p;
}

}  // namespace

const std::string& starter_pack_json() { return the_pack().json; }
const std::string& starter_pack_version() { return the_pack().version; }
result<std::vector<passthrough_referrer>> starter_pack_rules() { return the_pack().rules; }

const starter_pack_entry* starter_pack_entry_of(std::string_view host) {
  const pack& p = the_pack();
  auto s = p.sites.by_host(host);
  return s ? &p.entries[*s] : nullptr;
}

}  // namespace referrald::domain
