#include "domain/rules/event.hpp"

#include "domain/rules/entities.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace referrald::domain {

namespace {

// "<entity>.created" etc. for every event type, from the kinds' traits.
struct event_names {
  std::string names[k_last_event_type + 1];
  event_names() {
    for_each_kind([&]<class T>(std::type_identity<T>) {
      using traits = kind_traits<T>;
      names[static_cast<int>(traits::created)] = std::string(traits::entity) + ".created";
      names[static_cast<int>(traits::updated)] = std::string(traits::entity) + ".updated";
      names[static_cast<int>(traits::deleted)] = std::string(traits::entity) + ".deleted";
    });
  }
};

const event_names& names() {
  static const event_names n;
  return n;
}

}  // namespace

std::string_view to_string(event_type t) {
  auto i = static_cast<std::size_t>(t);
  return i >= 1 && i <= k_last_event_type ? std::string_view(names().names[i]) : "unknown";
}

std::optional<event_type> event_type_from_byte(std::uint8_t b) {
  if (b >= 1 && b <= k_last_event_type) return static_cast<event_type>(b);
  return std::nullopt;
}

std::string_view entity_name(event_type t) {
  return visit_kind(kind_of(t), []<class T>(std::type_identity<T>) -> std::string_view {
    return kind_traits<T>::entity;
  });
}

status write_json(json_writer& w, std::string_view account_id, const event& e) {
  // The object as the API shows it today, whatever format stored it.
  auto object = visit_kind(kind_of(e.type), [&]<class T>(std::type_identity<T>) {
    auto v = decode_object<T>(e.format, e.object);
    return v ? result<std::string>(entity_json(account_id, *v))
             : result<std::string>(std::move(v).err());
  });
  if (!object) return std::move(object).err();
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
  w.RawValue(object->data(), object->size(), rapidjson::kObjectType);
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
