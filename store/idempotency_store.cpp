#include "store/idempotency_store.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <algorithm>

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
  write_answer_fields(w, r.status, r.content_type, r.headers, r.body);
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

// nullopt for a record this build cannot read (it is then ignored, as an expired one).
std::optional<idempotency_record> decode(std::string_view key, std::string_view value) {
  rapidjson::Document d;
  d.Parse(value.data(), value.size());
  if (!d.IsObject()) return std::nullopt;
  idempotency_record r;
  r.scope = key.substr(k_prefix.size());
  auto at = d.FindMember("at");
  auto fp = d.FindMember("fingerprint");
  if (at == d.MemberEnd() || !at->value.IsInt64() || fp == d.MemberEnd() || !fp->value.IsString() ||
      !read_answer_fields(d, r.status, r.content_type, r.headers, r.body)) {
    return std::nullopt;
  }
  r.at = at->value.GetInt64();
  r.fingerprint.assign(fp->value.GetString(), fp->value.GetStringLength());
  return r;
}

}  // namespace

void write_answer_fields(domain::json_writer& w, unsigned status, std::string_view content_type,
                         const answer_headers& headers, std::string_view body) {
  w.Key("status");
  w.Uint(status);
  w.Key("content_type");
  domain::write_string(w, content_type);
  w.Key("headers");
  w.StartArray();
  for (const auto& [name, value] : headers) {
    w.StartArray();
    domain::write_string(w, name);
    domain::write_string(w, value);
    w.EndArray();
  }
  w.EndArray();
  w.Key("body");
  domain::write_string(w, body);
}

namespace {

// A header field's name as HTTP allows it (RFC 9110 section 5.1: a token).
bool field_name(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

// A header field's value that stays on its line: no CR, LF or NUL.
bool field_value(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

}  // namespace

bool read_answer_fields(const rapidjson::Value& object, unsigned& status, std::string& content_type,
                        answer_headers& headers, std::string& body) {
  auto string_of = [&](const char* name, std::string& out) {
    auto it = object.FindMember(name);
    if (it == object.MemberEnd() || !it->value.IsString()) return false;
    out.assign(it->value.GetString(), it->value.GetStringLength());
    return true;
  };
  auto s = object.FindMember("status");
  auto h = object.FindMember("headers");
  if (s == object.MemberEnd() || !s->value.IsUint() || h == object.MemberEnd() ||
      !h->value.IsArray() || !string_of("content_type", content_type) || !string_of("body", body)) {
    return false;
  }
  status = s->value.GetUint();
  // Sent again as it is: what a server could not have answered is not an answer.
  if (status < 100 || status > 599 || !field_value(content_type)) return false;
  headers.clear();
  for (const auto& pair : h->value.GetArray()) {
    if (!pair.IsArray() || pair.Size() != 2 || !pair[0].IsString() || !pair[1].IsString()) {
      return false;
    }
    std::string_view name(pair[0].GetString(), pair[0].GetStringLength());
    std::string_view value(pair[1].GetString(), pair[1].GetStringLength());
    if (!field_name(name) || !field_value(value)) return false;
    headers.emplace_back(name, value);
  }
  return true;
}

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
