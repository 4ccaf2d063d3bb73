// Fuzz target: the URL parser and host normalizer, lenient form decoding, and a whole
// visit (referrer and landing URL taken from the input) resolved against a few rules.

#include <rapidjson/document.h>

#include <cstdint>
#include <string>

#include "domain/attribution/resolver.hpp"
#include "domain/rules/account_state.hpp"
#include "domain/rules/entities.hpp"
#include "domain/web/host.hpp"
#include "domain/web/url.hpp"

using namespace referrald::domain;

namespace {

const account_state& rules() {
  static const account_state state = [] {
    account_state s("fuzz");
    auto add = [&s](const char* body, bool mapping) {
      rapidjson::Document d;
      d.Parse(body);
      event e;
      e.seq = s.seq() + 1;
      e.prev_hash = s.head_hash();
      if (mapping) {
        auto m = parse_create<referrer_mapping>(d);
        if (!m) return;
        m->id = s.mappings().next_id();
        e.type = event_type::referrer_mapping_created;
        e.entity_id = m->id;
        e.object = encode_object(*m);
        (void)s.apply(e);
      } else {
        auto p = parse_create<passthrough_referrer>(d);
        if (!p) return;
        p->id = s.referrers().next_id();
        e.type = event_type::passthrough_referrer_created;
        e.entity_id = p->id;
        e.object = encode_object(*p);
        (void)s.apply(e);
      }
    };
    add(R"({"domain":"paypal.com","utm_source":"paypal"})", false);
    add(R"({"referrer_pattern":"partner.com","match_type":"ends_with","utm_source":"p"})", true);
    add(R"({"referrer_pattern":"shop","match_type":"contains","utm_source":"c"})", true);
    add(R"({"referrer_pattern":"news.","match_type":"starts_with","utm_source":"n"})", true);
    add(R"({"referrer_pattern":"^(?:[a-z]+\\.?)+[0-9]$","match_type":"regex","utm_source":"r"})",
        true);
    s.refresh_indexes();
    return s;
  }();
  return state;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (auto mode : {idna_mode::browser, idna_mode::strict}) {
    (void)parse_url(in, mode);
    (void)normalize_host(in, mode);
    (void)normalize_host(in, mode, trailing_dot::keep);
  }
  (void)form_decode(in);
  (void)percent_decode(in, true);
  // The first line is the referrer, the rest the landing URL.
  auto nl = in.find('\n');
  std::string referrer(in.substr(0, nl));
  std::string landing(nl == std::string_view::npos ? in : in.substr(nl + 1));
  rapidjson::Document visit_doc(rapidjson::kObjectType);
  auto& a = visit_doc.GetAllocator();
  visit_doc.AddMember("referrer", rapidjson::Value(referrer.c_str(), a), a);
  visit_doc.AddMember("landing_url", rapidjson::Value(landing.c_str(), a), a);
  if (auto v = parse_visit(visit_doc)) {
    std::string out;
    append_json(out, resolve(rules(), *v));
  }
  return 0;
}
