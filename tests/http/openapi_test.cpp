// The OpenAPI document: generated from the route table, covering it exactly, committed as
// docs/openapi.json, served at /openapi.json; and the checker every answer of this suite
// goes through (tests/http/main.cpp) finds what breaks the document.

#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>

#include "http/handlers.hpp"
#include "http/openapi.hpp"
#include "http/router.hpp"
#include "tests/http/fixture.hpp"
#include "tests/support/contract.hpp"

namespace referrald::testing {

const contract& api_contract();

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

http::method verb_of(std::string_view name) {
  if (name == "get") return http::method::get;
  if (name == "post") return http::method::post;
  if (name == "patch") return http::method::patch;
  if (name == "put") return http::method::put;
  if (name == "delete") return http::method::del;
  return http::method::other;
}

// A concrete path for a pattern: each {param} replaced by a value of its kind.
std::string concrete(std::string pattern) {
  for (auto [param, v] : {std::pair{"{id}", "7"}, std::pair{"{brand_id}", "42"},
                          std::pair{"{connection_id}", "01M830YYS5R44BY3FBED045H5W"}}) {
    for (auto at = pattern.find(param); at != std::string::npos; at = pattern.find(param))
      pattern.replace(at, std::string_view(param).size(), v);
  }
  return pattern;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(openapi)

BOOST_AUTO_TEST_CASE(every_route_is_in_the_document_and_every_operation_is_a_route) {
  const http::router r = http::make_router(http::limits{});
  auto missing = http::undocumented_routes(r);
  BOOST_TEST(missing.empty(), "routes without a declaration: "
                                  << missing.size() << " " << (missing.empty() ? "" : missing[0]));
  auto stale = http::unrouted_declarations(r);
  BOOST_TEST(stale.empty(), "declarations of no route: " << stale.size() << " "
                                                         << (stale.empty() ? "" : stale[0]));

  const auto& doc = api_contract().document();
  std::set<std::string> in_doc;
  for (auto p = doc["paths"].MemberBegin(); p != doc["paths"].MemberEnd(); ++p) {
    std::string pattern = p->name.GetString();
    BOOST_TEST(p->value.HasMember("options"), "no OPTIONS for " << pattern);
    for (auto m = p->value.MemberBegin(); m != p->value.MemberEnd(); ++m) {
      std::string verb = m->name.GetString();
      if (verb == "options") continue;  // every path answers it; no route of its own
      in_doc.insert(verb + " " + pattern);
      // The router answers the operation's path and method with the route of that pattern.
      auto found = r.find(verb_of(verb), concrete(pattern));
      BOOST_TEST((found.kind == http::router::match::found && found.entry->pattern == pattern),
                 "the router does not serve " << verb << " " << pattern);
    }
  }
  std::size_t routes = 0, console = 0;
  for (const auto& rt : r.routes()) {
    if (!rt.documented) {  // the console's web pages, not the API
      ++console;
      continue;
    }
    std::string verb(http::to_string(rt.verb));
    for (auto& c : verb)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (verb == "delete" || verb == "del") verb = "delete";
    BOOST_TEST(in_doc.contains(verb + " " + rt.pattern),
               "not in the document: " << verb << " " << rt.pattern);
    ++routes;
  }
  BOOST_TEST(routes == in_doc.size());
  BOOST_TEST(console == 3u);
  BOOST_TEST(routes >= 37u);

  // Every query parameter a route reads is a documented parameter of its operation.
  for (const auto& rt : r.routes()) {
    if (!rt.documented) continue;
    std::string verb =
        rt.verb == http::method::del ? "delete" : std::string(http::to_string(rt.verb));
    for (auto& c : verb)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const auto& op = doc["paths"][rt.pattern.c_str()][verb.c_str()];
    std::set<std::string> params;
    for (const auto& p : op["parameters"].GetArray())
      if (p.HasMember("name")) params.insert(p["name"].GetString());
    for (const auto& q : rt.query_names)
      BOOST_TEST(params.contains(q), rt.pattern << " does not document its parameter " << q);
    // Creating POSTs document Idempotency-Key; authenticated ones the rate-limit answers.
    if (rt.idempotent) BOOST_TEST(op["responses"].HasMember("409"), rt.pattern);
    if (rt.access) BOOST_TEST(op["responses"].HasMember("429"), rt.pattern);
    if (!rt.access) BOOST_TEST((op.HasMember("security") && op["security"].Empty()), rt.pattern);
  }
}

// GET /metrics declared "text/plain;", "version=0.0.4;" and "charset=utf-8" as three media
// types (its one content type split at spaces); an OpenAPI validating proxy crashed on it.
BOOST_AUTO_TEST_CASE(every_media_type_in_the_document_is_one_media_type) {
  // RFC 9110 section 8.3.1: type "/" subtype *( OWS ";" OWS parameter ), with token names
  // and token or quoted-string values.
  const std::string token = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
  const std::regex media(token + "/" + token + "(\\s*;\\s*" + token + "=(" + token +
                         "|\"[^\"]*\"))*");
  std::size_t seen = 0;
  std::function<void(const rapidjson::Value&, const std::string&)> walk =
      [&](const rapidjson::Value& v, const std::string& at) {
        if (v.IsArray()) {
          for (rapidjson::SizeType i = 0; i < v.Size(); ++i)
            walk(v[i], at + "/" + std::to_string(i));
          return;
        }
        if (!v.IsObject()) return;
        for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
          std::string name = m->name.GetString();
          if (name == "content" && m->value.IsObject()) {
            for (auto t = m->value.MemberBegin(); t != m->value.MemberEnd(); ++t) {
              ++seen;
              BOOST_TEST(std::regex_match(t->name.GetString(), media),
                         at << "/content: '" << t->name.GetString() << "' is not a media type");
            }
          }
          walk(m->value, at + "/" + name);
        }
      };
  walk(api_contract().document(), "#");
  BOOST_TEST(seen > 50u);
  BOOST_TEST(api_contract()
                 .document()["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
                 .HasMember("text/plain; version=0.0.4; charset=utf-8"));
}

BOOST_AUTO_TEST_CASE(the_committed_document_is_the_generated_one) {
  std::string committed = read_file(std::string(REFERRALD_SOURCE_DIR) + "/docs/openapi.json");
  std::string generated = http::openapi_document(http::make_router(http::limits{}));
  BOOST_TEST(committed == generated,
             "docs/openapi.json is stale: run build/referrald --openapi > docs/openapi.json");
  // `referrald --openapi` prints it too.
  auto out = run_command(REFERRALD_BINARY, "--openapi");
  BOOST_TEST(out.exit == 0);
  BOOST_TEST(out.output == generated);
}

BOOST_FIXTURE_TEST_CASE(served_without_a_key_at_both_prefixes, server_fixture) {
  auto anonymous = client("");
  auto r = anonymous->get("/openapi.json");
  BOOST_TEST(r.status == 200u);
  BOOST_TEST(r.header("content-type").starts_with("application/json"));
  auto doc = r.json();
  BOOST_TEST(doc["openapi"].GetString() == std::string("3.1.0"));
  BOOST_TEST(doc["info"]["version"].GetString() == std::string(REFERRALD_VERSION_TEXT));
  BOOST_TEST(r.body == http::openapi_document(http::make_router(http::limits{})));
  BOOST_TEST(anonymous->get("/v1/openapi.json").body == r.body);
  // Public: any page may read it (an OpenAPI viewer on another origin), without --cors-origins.
  auto cross =
      anonymous->request("GET", "/openapi.json", {}, {{"Origin", "https://viewer.example"}});
  BOOST_TEST(cross.header("access-control-allow-origin") == "*");
  // The API itself still answers no other origin.
  auto api = anonymous->request("GET", "/healthz", {}, {{"Origin", "https://viewer.example"}});
  BOOST_TEST(api.header("access-control-allow-origin") == "");
}

BOOST_AUTO_TEST_CASE(the_checker_finds_what_breaks_the_document) {
  const contract& c = api_contract();
  auto reply = [](unsigned status, std::string body, std::string type = "application/json") {
    http_reply r;
    r.status = status;
    r.body = std::move(body);
    r.headers["content-type"] = std::move(type);
    r.headers["x-request-id"] = "req_0123456789abcdef";
    return r;
  };
  const std::string rule =
      R"({"id":1,"account_id":"acme","domain":"a.com","utm_source":"a","utm_medium":"passthrough",)"
      R"("utm_campaign":"","utm_term":"","service_name":null,"is_active":true,)"
      R"("created_at":"2026-11-23T01:40:07.229Z","updated_at":"2026-11-23T01:40:07.229Z"})";
  const std::string target = "/passthrough-referrers/1?account_id=acme";
  BOOST_TEST(c.check("GET", target, reply(200, R"({"success":true,"data":)" + rule + "}")) == "");
  BOOST_TEST(
      c.check("GET", "/v1" + target, reply(200, R"({"success":true,"data":)" + rule + "}")) == "");
  // A field missing, one too many, a wrong type, a limit broken, a status not documented.
  std::string missing = rule;
  missing.erase(missing.find(R"("utm_term":"",)"), 14);
  BOOST_TEST(c.check("GET", target, reply(200, R"({"success":true,"data":)" + missing + "}"))
                 .find("lacks required 'utm_term'") != std::string::npos);
  std::string extra = rule;
  extra.insert(1, R"("colour":"red",)");
  BOOST_TEST(c.check("GET", target, reply(200, R"({"success":true,"data":)" + extra + "}"))
                 .find("colour") != std::string::npos);
  std::string typed = rule;
  typed.replace(typed.find(R"("is_active":true)"), 16, R"("is_active":"yes")");
  BOOST_TEST(c.check("GET", target, reply(200, R"({"success":true,"data":)" + typed + "}"))
                 .find("is_active: is string, not boolean") != std::string::npos);
  std::string long_medium = rule;
  long_medium.replace(long_medium.find(R"("utm_medium":"passthrough")"), 26,
                      R"("utm_medium":")" + std::string(101, 'm') + "\"");
  BOOST_TEST(c.check("GET", target, reply(200, R"({"success":true,"data":)" + long_medium + "}"))
                 .find("longer than maxLength") != std::string::npos);
  BOOST_TEST(c.check("GET", target, reply(418, "{}")).find("not documented") != std::string::npos);
  BOOST_TEST(c.check("GET", "/metrics", reply(200, "x", "text/html")).find("media type") !=
             std::string::npos);
  // Errors: the envelope, with a known code.
  BOOST_TEST(c.check("GET", target,
                     reply(404, R"({"success":false,"error":{"code":"not_found","message":"m",)"
                                R"("details":[],"request_id":"req_1"}})")) == "");
  BOOST_TEST(c.check("GET", target,
                     reply(404, R"({"success":false,"error":{"code":"gone","message":"m",)"
                                R"("details":[]}})")) != "");
  BOOST_TEST(c.check("GET", "/no-such-route", reply(404, R"({"success":false})")) != "");
  // Headers: an answer header the document does not declare for the answer, or a value its
  // schema refuses; an answer without X-Request-Id.
  auto with_location = reply(200, R"({"success":true,"data":)" + rule + "}");
  with_location.headers["location"] = "/elsewhere";
  BOOST_TEST(c.check("GET", target, with_location).find("header location is not declared") !=
             std::string::npos);
  auto bad_seq = reply(201, R"({"success":true,"data":)" + rule + "}");
  bad_seq.headers["referrald-seq"] = "soon";
  BOOST_TEST(c.check("POST", "/passthrough-referrers?account_id=acme", bad_seq)
                 .find("header referrald-seq") != std::string::npos);
  auto anonymous = reply(200, R"({"status":"ok"})");
  anonymous.headers.erase("x-request-id");
  BOOST_TEST(c.check("GET", "/healthz", anonymous).find("X-Request-Id") != std::string::npos);
  // Query parameters the server took must be the operation's, with values it documents.
  const std::string list = R"({"success":true,"data":{"referrers":[],"total":0,"active_count":0,)"
                           R"("has_more":false,"next_starting_after":null}})";
  BOOST_TEST(c.check("GET", "/passthrough-referrers?account_id=acme&limit=5&is_active=true",
                     reply(200, list)) == "");
  BOOST_TEST(c.check("GET", "/passthrough-referrers?account_id=acme&colour=red", reply(200, list))
                 .find("colour") != std::string::npos);
  BOOST_TEST(c.check("GET", "/passthrough-referrers?account_id=acme&limit=5000", reply(200, list))
                 .find("limit=5000") != std::string::npos);
  // A body the server took must be one the document takes.
  http_client::sent create{"POST", "/passthrough-referrers?account_id=acme",
                           R"({"domain":"a.com","utm_source":"a","colour":"red"})",
                           "application/json"};
  BOOST_TEST(c.check(create, reply(201, R"({"success":true,"data":)" + rule + "}"))
                 .find("the server took a body the document refuses") != std::string::npos);
  // An empty body where the document gives one.
  BOOST_TEST(c.check("GET", target, reply(200, "")).find("empty body") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace referrald::testing
