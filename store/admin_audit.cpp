#include "store/admin_audit.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <atomic>
#include <cstdio>
#include <random>

#include "domain/base/pager.hpp"

namespace referrald::store {

namespace {

// The time, then 24 random bits drawn once per process (entries of two nodes in one
// millisecond do not collide) and a 40-bit counter (a process's entries keep their order).
std::string entry_id(domain::unix_ms at) {
  static const std::uint64_t process = std::random_device{}() & 0xffffff;
  static std::atomic<std::uint64_t> counter{0};
  std::uint64_t n = counter.fetch_add(1) & 0xffffffffffull;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%013lld-%06llx%010llx", static_cast<long long>(at),
                static_cast<unsigned long long>(process), static_cast<unsigned long long>(n));
  return buf;
}

std::string prefix_of(std::string_view scope) {
  return std::string(admin_audit::k_prefix) + std::string(scope) + ".";
}

}  // namespace

void admin_audit::put(write_batch& batch, std::string_view scope, std::string_view type,
                      domain::unix_ms at, const std::function<void(domain::json_writer&)>& fields) {
  std::string id = entry_id(at);
  rapidjson::StringBuffer buf;
  domain::json_writer w(buf);
  w.StartObject();
  w.Key("id");
  domain::write_string(w, id);
  w.Key("at");
  domain::write_string(w, domain::format_rfc3339(at));
  w.Key("type");
  domain::write_string(w, type);
  if (fields) fields(w);
  w.EndObject();
  batch.put(column::meta, prefix_of(scope) + id, std::string_view(buf.GetString(), buf.GetSize()));
}

domain::status admin_audit::check_entry(std::string_view key, std::string_view value) {
  auto bad = [&](const std::string& why) {
    return domain::make_error(domain::errc::store_corrupted,
                              "the audit entry " + std::string(key) + " " + why);
  };
  auto dot = key.rfind('.');
  if (!key.starts_with(k_prefix) || dot == std::string_view::npos || dot < k_prefix.size() ||
      dot + 1 == key.size()) {
    return bad("is not under an audit scope and entry id");
  }
  rapidjson::Document doc;
  if (auto st = domain::parse_json(value, doc, "audit entry"); !st) {
    return bad("is not JSON: " + st.err().message);
  }
  if (!doc.IsObject()) return bad("is not a JSON object");
  auto id = doc.FindMember("id");
  if (id == doc.MemberEnd() || !id->value.IsString() ||
      std::string_view(id->value.GetString(), id->value.GetStringLength()) != key.substr(dot + 1)) {
    return bad("does not hold its id");
  }
  for (const char* name : {"at", "type"}) {
    auto m = doc.FindMember(name);
    if (m == doc.MemberEnd() || !m->value.IsString()) {
      return bad(std::string("has no \"") + name + "\" string");
    }
  }
  return {};
}

domain::result<std::string> admin_audit::page(std::string_view scope, std::string_view after,
                                              std::size_t limit) const {
  std::string prefix = prefix_of(scope);
  std::string end = prefix;
  end.back() = '/';  // the first key after every key of the scope
  std::string from = prefix + std::string(after);
  rapidjson::StringBuffer buf;
  domain::json_writer w(buf);
  w.StartObject();
  w.Key("scope");
  domain::write_string(w, scope);
  w.Key("entries");
  w.StartArray();
  domain::pager<std::string> shown(limit);
  auto st = db_->scan(column::meta, from, end, [&](std::string_view key, std::string_view value) {
    std::string_view id = key.substr(prefix.size());
    if (!after.empty() && id == after) return true;
    if (!shown.room()) return false;
    w.RawValue(value.data(), value.size(), rapidjson::kObjectType);
    shown.wrote(std::string(id));
    return true;
  });
  if (!st) return std::move(st).err();
  w.EndArray();
  shown.finish(w);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace referrald::store
