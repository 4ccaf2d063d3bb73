// POST /attribution/resolve and /attribution/resolve-batch (SPEC section 7).
//
// Resolution reads the account's published rule state on the I/O thread: no actor
// round trip and no store I/O, so it never waits behind rule writes or other accounts.
// Only an account that is not loaded yet is first asked to load (await_loaded_req).

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <functional>
#include <memory>

#include "domain/resolver.hpp"
#include "http/error_table.hpp"
#include "http/handlers.hpp"

namespace referrald::http {

namespace {

constexpr std::size_t k_batch_max = 10000;

// Builds the complete response body (envelope included) for a state.
using resolve_fn = std::function<std::string(const domain::account_state&)>;

void write_resolution(domain::json_writer& w, const domain::account_state& s,
                      const domain::visit& v, bool explain) {
  if (!explain) {
    domain::write_json(w, domain::resolve(s, v));
    return;
  }
  rapidjson::StringBuffer steps;
  domain::json_writer sw(steps);
  auto r = domain::resolve(s, v, &sw);
  domain::write_json(w, r, true);
  w.Key("explain");
  w.RawValue(steps.GetString(), steps.GetSize(), rapidjson::kArrayType);
  w.EndObject();
}

response ok_body(std::string body) {
  response r;
  r.body = std::move(body);
  return r;
}

// Runs `fn` on the published state now, or once the account is loaded.
std::optional<response> with_state(request_ctx& c, const std::string& account, resolve_fn fn) {
  if (auto view = c.runtime->view(account)) return ok_body(fn(*view));
  auto* rt = c.runtime;
  c.runtime->tell(
      account,
      actors::await_loaded_req{actors::make_reply(
          [rt, account, fn = std::move(fn), respond = c.respond](actors::api_result loaded) {
            if (!loaded) return respond(failure(loaded.err()));
            auto view = rt->view(account);
            if (!view) {
              return respond(failure(domain::make_error(
                  domain::errc::unavailable, "the account was unloaded meanwhile; retry")));
            }
            respond(ok_body(fn(*view)));
          })});
  return std::nullopt;
}

}  // namespace

std::optional<response> resolve_one(request_ctx& c) {
  auto account = account_param(c);
  if (!account) return failure(account.err());
  auto explain = bool_param(c.query, "explain", false);
  if (!explain) return failure(explain.err());
  rapidjson::Document doc;
  if (auto st = json_body(c, doc); !st) return failure(st.err());
  auto v = domain::parse_visit(doc);
  if (!v) return failure(v.err());
  return with_state(c, *account,
                    [visit = std::move(*v), explain = *explain](const domain::account_state& s) {
                      rapidjson::StringBuffer buf;
                      domain::json_writer w(buf);
                      write_resolution(w, s, visit, explain);
                      std::string body;
                      body.reserve(buf.GetSize() + success_open.size() + 1);
                      body += success_open;
                      body.append(buf.GetString(), buf.GetSize());
                      body += success_close;
                      return body;
                    });
}

std::optional<response> resolve_batch(request_ctx& c) {
  auto account = account_param(c);
  if (!account) return failure(account.err());
  auto explain = bool_param(c.query, "explain", false);
  if (!explain) return failure(explain.err());
  // Parsed in place, inside the request body; the visits taken from it own their strings.
  auto doc = std::make_shared<rapidjson::Document>();
  if (auto st = json_body_insitu(c, *doc); !st) return failure(st.err());
  domain::field_reader in(*doc, {"visits"});
  const rapidjson::Value* visits = nullptr;
  if (doc->IsObject()) {
    auto it = doc->FindMember("visits");
    if (it == doc->MemberEnd()) {
      in.fail("visits", "is required");
    } else if (!it->value.IsArray()) {
      in.fail("visits", "must be an array of visits");
    } else if (it->value.Size() > k_batch_max) {
      in.fail("visits", "must hold at most 10000 visits, not " + std::to_string(it->value.Size()));
    } else {
      visits = &it->value;
    }
  }
  if (auto st = in.finish(); !st) return failure(st.err());
  // Validate every visit now; resolve against the state when it is there.
  auto parsed = std::make_shared<std::vector<domain::result<domain::visit>>>();
  parsed->reserve(visits->Size());
  for (rapidjson::SizeType i = 0; i < visits->Size(); ++i) {
    parsed->push_back(domain::parse_visit((*visits)[i], i));
  }
  return with_state(c, *account, [parsed, explain = *explain](const domain::account_state& s) {
    std::string body;
    body.reserve(64 + parsed->size() * (explain ? 4096 : 300));
    body += success_open;
    body += "{\"results\":[";
    for (std::size_t i = 0; i < parsed->size(); ++i) {
      if (i > 0) body += ',';
      const auto& v = (*parsed)[i];
      if (v && !explain) {
        domain::append_json(body, domain::resolve(s, *v));
        continue;
      }
      rapidjson::StringBuffer buf;
      domain::json_writer w(buf);
      if (v) {
        write_resolution(w, s, *v, true);
      } else {
        w.StartObject();
        w.Key("error");
        write_error_object(w, v.err());
        w.EndObject();
      }
      body.append(buf.GetString(), buf.GetSize());
    }
    body += "]}";
    body += success_close;
    return body;
  });
}

}  // namespace referrald::http
