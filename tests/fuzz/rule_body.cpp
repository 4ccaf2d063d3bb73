// Fuzz target: a JSON request body through the create and patch validation of every rule
// family (the settings too), each accepted patch applied to an accepted rule, and every accepted
// rule through its stored encoding and back (which must give it unchanged).

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <type_traits>

#include "domain/base/json.hpp"
#include "domain/rules/entities.hpp"

using namespace referrald::domain;

namespace {

// Every accepted rule survives its stored encoding unchanged.
template <class T>
void round_trip(const T& value) {
  auto back = decode_object<T>(object_format::tagged, encode_object(value));
  if (!back || !(*back == value)) std::abort();
}

template <class T>
void try_kind(const rapidjson::Value& doc, json_writer& w) {
  if (auto v = parse_create<T>(doc)) {
    write_json(w, "fuzz", *v);
    round_trip(*v);
    if (auto patch = parse_patch<T>(doc)) {
      if (auto changed = apply_patch(*v, *patch)) round_trip(*v);
    }
  } else if (auto patch = parse_patch<T>(doc)) {
    T base{};
    if constexpr (std::is_same_v<T, referrer_mapping>) {
      base.referrer_pattern = "partner.example";
    } else if constexpr (std::is_same_v<T, passthrough_referrer>) {
      base.domain = "partner.example";
    } else if constexpr (std::is_same_v<T, channel_rule>) {
      base.name = "rule";
      base.channel = "Partners";
      base.utm_medium = {"email"};
    }
    if (apply_patch(base, *patch)) round_trip(base);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  rapidjson::Document doc;
  if (!parse_json(text, doc)) return 0;
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  try_kind<passthrough_referrer>(doc, w);
  try_kind<referrer_mapping>(doc, w);
  try_kind<channel_rule>(doc, w);
  try_kind<account_settings>(doc, w);
  if (auto c = parse_create<channel_rule>(doc)) {
    (void)c->matches({"google", "cpc", "", "shop.partner.example", true, "/jobs/1"});
  }
  if (auto m = parse_create<referrer_mapping>(doc)) (void)m->matches("shop.partner.example");
  std::string canonical;
  append_canonical_json(canonical, doc);
  return 0;
}
