#include "store/idempotency_store.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "domain/base/json.hpp"

namespace referrald::store {

namespace {

constexpr std::string_view k_prefix = "idempotency.";
// The first key after every "idempotency." key ('.' + 1 == '/').
constexpr std::string_view k_end = "idempotency/";

std::string encode(const idempotency_record& r) {
  rapidjson::StringBuffer buf;
  domain::json_writer w(buf);
  w.StartObject();
  w.Key("at");
  w.Int64(r.at);
  w.Key("fingerprint");
  domain::write_string(w, r.fingerprint);
  w.Key("status");
  w.Uint(r.status);
  w.Key("content_type");
  domain::write_string(w, r.content_type);
  w.Key("headers");
  w.StartArray();
  for (const auto& [name, value] : r.headers) {
    w.StartArray();
    domain::write_string(w, name);
    domain::write_string(w, value);
    w.EndArray();
  }
  w.EndArray();
  w.Key("body");
  domain::write_string(w, r.body);
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

// nullopt for a record this build cannot read (it is then ignored, as an expired one).
std::optional<idempotency_record> decode(std::string_view key, std::string_view value) {
  rapidjson::Document d;
  d.Parse(value.data(), value.size());
  if (!d.IsObject()) return std::nullopt;
  auto str = [&](const char* name) -> std::optional<std::string> {
    auto it = d.FindMember(name);
    if (it == d.MemberEnd() || !it->value.IsString()) return std::nullopt;
    return std::string(it->value.GetString(), it->value.GetStringLength());
  };
  idempotency_record r;
  r.scope = key.substr(k_prefix.size());
  auto at = d.FindMember("at");
  auto status = d.FindMember("status");
  auto headers = d.FindMember("headers");
  auto fp = str("fingerprint"), type = str("content_type"), body = str("body");
  if (at == d.MemberEnd() || !at->value.IsInt64() || status == d.MemberEnd() ||
      !status->value.IsUint() || headers == d.MemberEnd() || !headers->value.IsArray() || !fp ||
      !type || !body) {
    return std::nullopt;
  }
  r.at = at->value.GetInt64();
  r.status = status->value.GetUint();
  r.fingerprint = std::move(*fp);
  r.content_type = std::move(*type);
  r.body = std::move(*body);
  for (const auto& h : headers->value.GetArray()) {
    if (!h.IsArray() || h.Size() != 2 || !h[0].IsString() || !h[1].IsString()) return std::nullopt;
    r.headers.emplace_back(h[0].GetString(), h[1].GetString());
  }
  return r;
}

}  // namespace

domain::result<std::vector<idempotency_record>> idempotency_store::load_since(
    domain::unix_ms since) const {
  std::vector<idempotency_record> out;
  auto st = db_->scan(column::meta, k_prefix, k_end, [&](std::string_view k, std::string_view v) {
    if (auto r = decode(k, v); r && r->at >= since) out.push_back(std::move(*r));
    return true;
  });
  if (!st) return std::move(st).err();
  return out;
}

void idempotency_store::put(write_batch& batch, const idempotency_record& r) const {
  batch.put(column::meta, std::string(k_prefix) + r.scope, encode(r));
}

domain::status idempotency_store::purge(write_batch& batch, domain::unix_ms before) const {
  return db_->scan(column::meta, k_prefix, k_end, [&](std::string_view k, std::string_view v) {
    auto r = decode(k, v);
    if (!r || r->at < before) batch.erase(column::meta, k);
    return true;
  });
}

}  // namespace referrald::store
