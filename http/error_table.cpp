#include "http/error_table.hpp"

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

response failure(const domain::error& e) {
  rapidjson::StringBuffer buf;
  domain::json_writer w(buf);
  w.StartObject();
  w.Key("success");
  w.Bool(false);
  w.Key("error");
  write_error_object(w, e);
  w.EndObject();
  response r;
  r.status = map_error(e.code).status;
  r.body.assign(buf.GetString(), buf.GetSize());
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
