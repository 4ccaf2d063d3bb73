#include "domain/rules/event.hpp"

#include "domain/rules/entities.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace referrald::domain {

std::string_view to_string(event_type t) {
  switch (t) {
    case event_type::passthrough_referrer_created:
      return "passthrough_referrer.created";
    case event_type::passthrough_referrer_updated:
      return "passthrough_referrer.updated";
    case event_type::passthrough_referrer_deleted:
      return "passthrough_referrer.deleted";
    case event_type::referrer_mapping_created:
      return "referrer_mapping.created";
    case event_type::referrer_mapping_updated:
      return "referrer_mapping.updated";
    case event_type::referrer_mapping_deleted:
      return "referrer_mapping.deleted";
  }
  return "unknown";
}

std::optional<event_type> event_type_from_byte(std::uint8_t b) {
  if (b >= 1 && b <= 6) return static_cast<event_type>(b);
  return std::nullopt;
}

std::string_view entity_name(event_type t) {
  switch (t) {
    case event_type::passthrough_referrer_created:
    case event_type::passthrough_referrer_updated:
    case event_type::passthrough_referrer_deleted:
      return "passthrough_referrer";
    case event_type::referrer_mapping_created:
    case event_type::referrer_mapping_updated:
    case event_type::referrer_mapping_deleted:
      return "referrer_mapping";
  }
  return "unknown";
}

status write_json(json_writer& w, std::string_view account_id, const event& e) {
  // The object as the API shows it today, whatever format stored it.
  std::string object;
  if (kind_of(e.type) == entity_kind::passthrough_referrer) {
    auto v = decode_object<passthrough_referrer>(e.format, e.object);
    if (!v) return std::move(v).err();
    object = entity_json(account_id, *v);
  } else {
    auto v = decode_object<referrer_mapping>(e.format, e.object);
    if (!v) return std::move(v).err();
    object = entity_json(account_id, *v);
  }
  w.StartObject();
  w.Key("account_id");
  write_string(w, account_id);
  w.Key("seq");
  w.Uint64(e.seq);
  w.Key("timestamp");
  write_string(w, format_rfc3339(e.timestamp));
  w.Key("type");
  write_string(w, to_string(e.type));
  w.Key("key_id");
  w.Int64(e.key_id);
  w.Key("entity");
  write_string(w, entity_name(e.type));
  w.Key("entity_id");
  w.Int64(e.entity_id);
  w.Key("object");
  w.RawValue(object.data(), object.size(), rapidjson::kObjectType);
  w.Key("changed");
  w.StartArray();
  for (const auto& f : e.changed)
    write_string(w, f);
  w.EndArray();
  w.Key("prev_hash");
  write_string(w, to_hex(e.prev_hash));
  w.Key("hash");
  write_string(w, to_hex(e.hash));
  w.EndObject();
  return {};
}

}  // namespace referrald::domain
