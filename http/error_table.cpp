#include "http/error_table.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "domain/base/json.hpp"
#include "http/response.hpp"

namespace referrald::http {

error_mapping map_error(domain::errc e) {
  using domain::errc;
  switch (e) {
    case errc::validation_failed:
      return {400, "validation_failed"};
    case errc::invalid_json:
      return {400, "invalid_json"};
    case errc::not_found:
      return {404, "not_found"};
    case errc::route_not_found:
      return {404, "not_found"};
    case errc::conflict:
      return {409, "conflict"};
    case errc::unauthorized:
      return {401, "unauthorized"};
    case errc::forbidden:
      return {403, "forbidden"};
    case errc::payload_too_large:
      return {413, "payload_too_large"};
    case errc::unsupported_media_type:
      return {415, "unsupported_media_type"};
    case errc::method_not_allowed:
      return {405, "method_not_allowed"};
    case errc::unavailable:
      return {503, "unavailable"};
    case errc::internal:
      return {500, "internal"};
    case errc::header_too_large:
      return {431, "header_too_large"};
    case errc::bad_request:
      return {400, "bad_request"};
    case errc::not_implemented:
      return {501, "not_implemented"};
    case errc::insufficient_storage:
      return {507, "insufficient_storage"};
    case errc::store_corrupted:
      return {500, "store_corrupted"};
    case errc::rate_limited:
      return {429, "rate_limited"};
    case errc::precondition_failed:
      return {412, "precondition_failed"};
    case errc::beaten:  // only when a writer gave up deciding again: ask again later
      return {503, "unavailable"};
  }
  return {500, "internal"};
}

response success(unsigned status, std::string_view data_json) {
  response r;
  r.status = status;
  if (status == 204) {
    r.content_type.clear();
    return r;
  }
  r.enveloped = true;
  r.body.reserve(data_json.size() + 28);
  r.body += "{\"success\":true,\"data\":";
  r.body += data_json;
  r.body += '}';
  return r;
}

void write_error_object(domain::json_writer& w, const domain::error& e) {
  w.StartObject();
  w.Key("code");
  domain::write_string(w, map_error(e.code).code);
  w.Key("message");
  domain::write_string(w, e.message);
  w.Key("details");
  w.StartArray();
  for (const auto& d : e.details) {
    w.StartObject();
    w.Key("field");
    domain::write_string(w, d.field);
    w.Key("message");
    domain::write_string(w, d.message);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

std::string error_body(const domain::error& e, std::string_view request_id) {
  rapidjson::StringBuffer buf;
  domain::json_writer w(buf);
  w.StartObject();
  w.Key("success");
  w.Bool(false);
  w.Key("error");
  write_error_object(w, e);
  w.EndObject();
  std::string body(buf.GetString(), buf.GetSize());
  if (!request_id.empty()) {
    // The request id is the object's last member: written after it, as the object closes.
    body.resize(body.size() - 2);
    body += ",\"request_id\":";
    domain::append_json_string(body, request_id);
    body += "}}";
  }
  return body;
}

std::optional<domain::error> error_of_body(std::string_view body) {
  rapidjson::Document d;
  if (!domain::parse_json(body, d) || !d.IsObject() || d.MemberCount() != 2) return std::nullopt;
  auto success = d.FindMember("success");
  auto error = d.FindMember("error");
  if (success == d.MemberEnd() || !success->value.IsFalse() || error == d.MemberEnd() ||
      !error->value.IsObject()) {
    return std::nullopt;
  }
  const auto& o = error->value;
  auto code = o.FindMember("code");
  auto message = o.FindMember("message");
  auto details = o.FindMember("details");
  if (code == o.MemberEnd() || !code->value.IsString() || message == o.MemberEnd() ||
      !message->value.IsString() || details == o.MemberEnd() || !details->value.IsArray()) {
    return std::nullopt;
  }
  domain::error e;
  // The first kind whose slug the body names: kinds sharing a slug write the same body.
  std::string_view slug(code->value.GetString(), code->value.GetStringLength());
  bool known = false;
  for (int k = 1; k <= static_cast<int>(domain::errc::beaten) && !known; ++k) {
    auto kind = static_cast<domain::errc>(k);
    if (map_error(kind).code == slug) {
      e.code = kind;
      known = true;
    }
  }
  if (!known) return std::nullopt;
  e.message.assign(message->value.GetString(), message->value.GetStringLength());
  for (const auto& item : details->value.GetArray()) {
    if (!item.IsObject()) return std::nullopt;
    auto field = item.FindMember("field");
    auto why = item.FindMember("message");
    if (field == item.MemberEnd() || !field->value.IsString() || why == item.MemberEnd() ||
        !why->value.IsString()) {
      return std::nullopt;
    }
    e.details.push_back(
        domain::field_error{std::string(field->value.GetString(), field->value.GetStringLength()),
                            std::string(why->value.GetString(), why->value.GetStringLength())});
  }
  // Only a body this table wrote reads back: anything else is replayed as it is.
  if (error_body(e) != body) return std::nullopt;
  return e;
}

response failure(const domain::error& e) {
  response r;
  r.status = map_error(e.code).status;
  r.error = e;  // the body is written once the request id is known (stamp_request_id)
  if (e.code == domain::errc::unavailable) r.headers.emplace_back("Retry-After", "1");
  // The disk must be freed first: ask for a slower retry.
  if (e.code == domain::errc::insufficient_storage) r.headers.emplace_back("Retry-After", "30");
  return r;
}

response raw_json(unsigned status, std::string body) {
  response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

}  // namespace referrald::http
