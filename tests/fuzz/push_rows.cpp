// Fuzz target: an AI-referral push body through row validation and normalization, and
// the canonical form batch_id replays compare.

#include <rapidjson/document.h>

#include <cstdint>
#include <string>

#include "domain/ai/ai_platforms.hpp"
#include "domain/ai/ai_referrals.hpp"
#include "domain/base/json.hpp"

using namespace referrald::domain;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  rapidjson::Document doc;
  if (!parse_json_insitu(text, doc)) return 0;
  if (auto outcome = validate_push(doc, ai_platform_list::builtin(), 0)) {
    (void)push_response_json(*outcome);
  }
  std::string canonical;
  append_canonical_json(canonical, doc);
  return 0;
}
