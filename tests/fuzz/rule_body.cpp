// Fuzz target: a JSON request body through the create and patch validation of both rule
// families, and each accepted patch applied to an accepted rule.

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <string>

#include "domain/base/json.hpp"
#include "domain/rules/mapping.hpp"
#include "domain/rules/passthrough.hpp"

using namespace referrald::domain;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  rapidjson::Document doc;
  if (!parse_json(text, doc)) return 0;
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  if (auto p = parse_passthrough_create(doc)) {
    write_json(w, "fuzz", *p);
    if (auto patch = parse_passthrough_patch(doc)) (void)apply_patch(*p, *patch);
  } else {
    (void)parse_passthrough_patch(doc);
  }
  if (auto m = parse_mapping_create(doc)) {
    (void)m->matches("shop.partner.example");
    if (auto patch = parse_mapping_patch(doc)) {
      if (auto changed = apply_patch(*m, *patch)) (void)m->matches("a.b");
    }
  } else if (auto patch = parse_mapping_patch(doc)) {
    referrer_mapping base;
    base.referrer_pattern = "partner.example";
    (void)apply_patch(base, *patch);
  }
  std::string canonical;
  append_canonical_json(canonical, doc);
  return 0;
}
