#include "tests/support/contract.hpp"

#include <cctype>
#include <cmath>
#include <regex>
#include <set>
#include <stdexcept>
#include <vector>

#include "tests/support/strict_json.hpp"

namespace referrald::testing {

namespace {

std::string_view sv(const rapidjson::Value& v) { return {v.GetString(), v.GetStringLength()}; }

std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  return out;
}

std::size_t code_points(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::string type_of(const rapidjson::Value& v) {
  if (v.IsNull()) return "null";
  if (v.IsBool()) return "boolean";
  if (v.IsString()) return "string";
  if (v.IsArray()) return "array";
  if (v.IsObject()) return "object";
  return "number";
}

bool is_type(const rapidjson::Value& v, std::string_view t) {
  if (t == "integer") {
    if (v.IsInt64() || v.IsUint64()) return true;
    return v.IsDouble() && std::floor(v.GetDouble()) == v.GetDouble();
  }
  if (t == "number") return v.IsNumber();
  return type_of(v) == t;
}

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string percent_decoded(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

// A query parameter's or header's text as the JSON value its schema's type says it is: an
// integer or a boolean when the text is one, else the string itself.
rapidjson::Value typed(const std::string& text, const rapidjson::Value* schema,
                       rapidjson::Document::AllocatorType& a) {
  std::string_view want;
  if (schema != nullptr && schema->IsObject() && schema->HasMember("type") &&
      (*schema)["type"].IsString())
    want = sv((*schema)["type"]);
  if (want == "integer" && !text.empty() &&
      text.find_first_not_of("-0123456789") == std::string::npos && text.size() < 19) {
    return rapidjson::Value(static_cast<std::int64_t>(std::stoll(text)));
  }
  if (want == "boolean") {
    if (text == "true" || text == "1") return rapidjson::Value(true);
    if (text == "false" || text == "0") return rapidjson::Value(false);
  }
  return rapidjson::Value(text.c_str(), static_cast<rapidjson::SizeType>(text.size()), a);
}

// The answer headers whose presence the document must declare.
constexpr std::string_view k_declared_headers[] = {"etag",
                                                   "location",
                                                   "referrald-seq",
                                                   "idempotent-replayed",
                                                   "retry-after",
                                                   "ratelimit-limit",
                                                   "ratelimit-remaining",
                                                   "ratelimit-reset",
                                                   "www-authenticate",
                                                   "x-request-id",
                                                   "content-disposition",
                                                   "cache-control"};

}  // namespace

contract::contract(std::string_view document) {
  doc_.Parse(document.data(), document.size());
  if (doc_.HasParseError() || !doc_.IsObject() || !doc_.HasMember("paths"))
    throw std::runtime_error("the OpenAPI document is not a JSON object with paths");
}

const rapidjson::Value* contract::resolve(const rapidjson::Value& v) const {
  const rapidjson::Value* cur = &v;
  for (int hops = 0; cur->IsObject() && cur->HasMember("$ref"); ++hops) {
    if (hops > 8) return nullptr;
    std::string_view ref = sv((*cur)["$ref"]);
    if (!ref.starts_with("#/")) return nullptr;
    const rapidjson::Value* at = &doc_;
    for (auto part : segments(ref.substr(1))) {
      std::string key(part);
      if (!at->IsObject() || !at->HasMember(key.c_str())) return nullptr;
      at = &(*at)[key.c_str()];
    }
    cur = at;
  }
  return cur;
}

std::string contract::validate(const rapidjson::Value& v, const rapidjson::Value& schema) const {
  return validate_at(v, schema, "$", 0);
}

std::string contract::validate_at(const rapidjson::Value& v, const rapidjson::Value& schema_in,
                                  const std::string& path, int depth) const {
  if (depth > 64) return path + ": schema nesting too deep";
  const rapidjson::Value* sp = &schema_in;
  if (schema_in.IsObject() && schema_in.HasMember("$ref")) {
    sp = resolve(schema_in);
    if (sp == nullptr) return path + ": unresolvable $ref " + std::string(sv(schema_in["$ref"]));
    // Keywords beside a $ref apply too (JSON Schema 2020-12).
    if (schema_in.MemberCount() > 1) {
      rapidjson::Document siblings;
      siblings.SetObject();
      for (auto m = schema_in.MemberBegin(); m != schema_in.MemberEnd(); ++m) {
        if (sv(m->name) == "$ref") continue;
        siblings.AddMember(rapidjson::Value(m->name, siblings.GetAllocator()),
                           rapidjson::Value(m->value, siblings.GetAllocator()),
                           siblings.GetAllocator());
      }
      auto why = validate_at(v, siblings, path, depth + 1);
      if (!why.empty()) return why;
    }
  }
  const rapidjson::Value& s = *sp;
  if (!s.IsObject()) return path + ": the schema is not an object";
  static const std::set<std::string_view> known = {
      "$ref",    "type",     "enum",        "const",        "properties", "required",
      "items",   "minItems", "maxItems",    "minLength",    "maxLength",  "pattern",
      "minimum", "maximum",  "oneOf",       "anyOf",        "allOf",      "additionalProperties",
      "format",  "default",  "description", "minProperties"};
  for (auto m = s.MemberBegin(); m != s.MemberEnd(); ++m)
    if (!known.contains(sv(m->name)))
      return path + ": the schema uses '" + std::string(sv(m->name)) + "', which is not checked";

  if (auto t = s.FindMember("type"); t != s.MemberEnd()) {
    bool ok = false;
    std::string names;
    if (t->value.IsString()) {
      ok = is_type(v, sv(t->value));
      names = std::string(sv(t->value));
    } else {
      for (const auto& one : t->value.GetArray()) {
        ok = ok || is_type(v, sv(one));
        names += (names.empty() ? "" : "|") + std::string(sv(one));
      }
    }
    if (!ok) return path + ": is " + type_of(v) + ", not " + names;
  }
  if (auto e = s.FindMember("enum"); e != s.MemberEnd()) {
    bool ok = false;
    for (const auto& one : e->value.GetArray())
      ok = ok || one == v;
    if (!ok) return path + ": is not one of the enum's values";
  }
  if (auto c = s.FindMember("const"); c != s.MemberEnd() && !(c->value == v)) {
    return path + ": is not the const value";
  }
  if (v.IsString()) {
    std::size_t n = code_points(sv(v));
    if (auto m = s.FindMember("minLength"); m != s.MemberEnd() && n < m->value.GetUint64())
      return path + ": shorter than minLength";
    if (auto m = s.FindMember("maxLength"); m != s.MemberEnd() && n > m->value.GetUint64())
      return path + ": longer than maxLength";
    if (auto m = s.FindMember("pattern"); m != s.MemberEnd()) {
      std::regex re(std::string(sv(m->value)), std::regex::ECMAScript);
      if (!std::regex_search(std::string(sv(v)), re))
        return path + ": '" + std::string(sv(v)) + "' does not match " + std::string(sv(m->value));
    }
  }
  if (v.IsNumber()) {
    double x = v.GetDouble();
    if (auto m = s.FindMember("minimum"); m != s.MemberEnd() && x < m->value.GetDouble())
      return path + ": below minimum";
    if (auto m = s.FindMember("maximum"); m != s.MemberEnd() && x > m->value.GetDouble())
      return path + ": above maximum";
  }
  if (v.IsArray()) {
    if (auto m = s.FindMember("minItems"); m != s.MemberEnd() && v.Size() < m->value.GetUint())
      return path + ": fewer than minItems";
    if (auto m = s.FindMember("maxItems"); m != s.MemberEnd() && v.Size() > m->value.GetUint())
      return path + ": more than maxItems";
    if (auto items = s.FindMember("items"); items != s.MemberEnd()) {
      for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
        auto why = validate_at(v[i], items->value, path + "[" + std::to_string(i) + "]", depth + 1);
        if (!why.empty()) return why;
      }
    }
  }
  if (v.IsObject()) {
    if (auto m = s.FindMember("minProperties");
        m != s.MemberEnd() && v.MemberCount() < m->value.GetUint())
      return path + ": fewer than minProperties";
    if (auto req = s.FindMember("required"); req != s.MemberEnd()) {
      for (const auto& name : req->value.GetArray())
        if (!v.HasMember(name)) return path + ": lacks required '" + std::string(sv(name)) + "'";
    }
    auto props = s.FindMember("properties");
    auto extra = s.FindMember("additionalProperties");
    for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
      std::string at = path + "." + std::string(sv(m->name));
      if (props != s.MemberEnd() && props->value.HasMember(m->name)) {
        auto why = validate_at(m->value, props->value[m->name], at, depth + 1);
        if (!why.empty()) return why;
      } else if (extra != s.MemberEnd()) {
        if (extra->value.IsBool()) {
          if (!extra->value.GetBool()) return at + ": is not a documented property";
        } else {
          auto why = validate_at(m->value, extra->value, at, depth + 1);
          if (!why.empty()) return why;
        }
      }
    }
  }
  if (auto all = s.FindMember("allOf"); all != s.MemberEnd()) {
    for (const auto& one : all->value.GetArray()) {
      auto why = validate_at(v, one, path, depth + 1);
      if (!why.empty()) return why;
    }
  }
  if (auto any = s.FindMember("anyOf"); any != s.MemberEnd()) {
    std::string first;
    for (const auto& one : any->value.GetArray()) {
      auto why = validate_at(v, one, path, depth + 1);
      if (why.empty()) return {};
      if (first.empty()) first = why;
    }
    return path + ": matches none of anyOf (" + first + ")";
  }
  if (auto one_of = s.FindMember("oneOf"); one_of != s.MemberEnd()) {
    int matched = 0;
    std::string whys;
    for (const auto& one : one_of->value.GetArray()) {
      auto why = validate_at(v, one, path, depth + 1);
      if (why.empty()) {
        ++matched;
      } else {
        whys += (whys.empty() ? "" : "; ") + why;
      }
    }
    if (matched != 1)
      return path + ": matches " + std::to_string(matched) + " of oneOf, not 1 (" + whys + ")";
  }
  return {};
}

const rapidjson::Value* contract::find_path(std::string_view path) const {
  if (path.size() > 1 && path.back() == '/') return nullptr;  // the router has no such path
  auto want = segments(path);
  if (!want.empty() && want.front() == "v1") want.erase(want.begin());
  const rapidjson::Value* best = nullptr;
  int best_literals = -1;
  const auto& paths = doc_["paths"];
  for (auto p = paths.MemberBegin(); p != paths.MemberEnd(); ++p) {
    auto have = segments(sv(p->name));
    if (have.size() != want.size()) continue;
    int literals = 0;
    bool ok = true;
    for (std::size_t i = 0; i < have.size() && ok; ++i) {
      if (have[i].starts_with('{')) continue;
      ok = have[i] == want[i];
      ++literals;
    }
    if (ok && literals > best_literals) {
      best = &p->value;
      best_literals = literals;
    }
  }
  return best;
}

std::string contract::check(const http_client::sent& request, const http_reply& reply) const {
  std::string_view method = request.method, target = request.target;
  std::string verb = lower(std::string(method));
  if (verb == "options" || verb == "head") return {};
  ++checked_;
  std::string_view path = target.substr(0, target.find('?'));
  // The console's pages are served beside the API, not part of its contract.
  std::string_view unprefixed = path.starts_with("/v1/") ? path.substr(3) : path;
  if (unprefixed == "/console" || unprefixed.starts_with("/console/")) return {};
  std::string where = std::string(method) + " " + std::string(target) + " -> " +
                      std::to_string(reply.status) + ": ";
  std::string type = lower(reply.header("content-type"));
  const bool json = type.starts_with("application/json") && !reply.body.empty();
  rapidjson::Document body;
  if (json) {
    if (auto problem = rfc8259_problem(reply.body); !problem.empty())
      return where + "the body is not valid JSON (RFC 8259): " + problem;
    body.Parse(reply.body.data(), reply.body.size());
    if (body.HasParseError()) return where + "the body is not JSON";
  }
  const rapidjson::Value* item = find_path(path);
  const rapidjson::Value* op = nullptr;
  if (item != nullptr && item->HasMember(verb.c_str())) op = &(*item)[verb.c_str()];
  if (op == nullptr) {
    // No such route (404) or method (405): the answer is an error of the usual shape.
    if (reply.status < 400) return where + "a success for a route the document lacks";
    if (!json) return where + "an error without a JSON body";
    rapidjson::Value error_ref(rapidjson::kObjectType);
    error_ref.AddMember("$ref", "#/components/schemas/Error", body.GetAllocator());
    auto why = validate(body, error_ref);
    return why.empty() ? std::string() : where + why;
  }
  std::string status = std::to_string(reply.status);
  const auto& responses = (*op)["responses"];
  if (!responses.HasMember(status.c_str()))
    return where + "status " + status + " is not documented for this operation";
  const rapidjson::Value* res = resolve(responses[status.c_str()]);
  if (res == nullptr) return where + "unresolvable response";
  // Headers: each one of k_declared_headers the answer has is declared for this answer,
  // with a value its schema takes; X-Request-Id is always there.
  if (reply.header("x-request-id").empty()) return where + "no X-Request-Id";
  for (auto name : k_declared_headers) {
    std::string value = reply.header(std::string(name));
    if (value.empty()) continue;
    const rapidjson::Value* declared = nullptr;
    if (res->HasMember("headers")) {
      const auto& hs = (*res)["headers"];
      for (auto h = hs.MemberBegin(); h != hs.MemberEnd(); ++h)
        if (lower(std::string(sv(h->name))) == name) declared = resolve(h->value);
    }
    if (declared == nullptr)
      return where + "header " + std::string(name) + " is not declared for this answer";
    rapidjson::Document holder;
    const rapidjson::Value* schema = resolve((*declared)["schema"]);
    auto why = validate(typed(value, schema, holder.GetAllocator()), (*declared)["schema"]);
    if (!why.empty()) return where + "header " + std::string(name) + ": " + why;
  }
  // Query parameters of a request the server took: each is one of the operation's, with a
  // value its schema takes (the document may not be stricter than the server).
  if (reply.status < 300 && target.find('?') != std::string_view::npos) {
    std::string_view query = target.substr(target.find('?') + 1);
    while (!query.empty()) {
      auto amp = query.find('&');
      std::string_view pair = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
      auto eq = pair.find('=');
      std::string name = percent_decoded(pair.substr(0, eq));
      std::string value = eq == std::string_view::npos ? "" : percent_decoded(pair.substr(eq + 1));
      const rapidjson::Value* param = nullptr;
      bool free_form = false;  // an exploded object parameter takes any name (OpenAPI 3.1)
      if (op->HasMember("parameters")) {
        for (const auto& p0 : (*op)["parameters"].GetArray()) {
          const rapidjson::Value* p = resolve(p0);
          if (p == nullptr || sv((*p)["in"]) != "query") continue;
          if (sv((*p)["name"]) == name) param = p;
          const rapidjson::Value* schema = p->HasMember("schema") ? &(*p)["schema"] : nullptr;
          if (p->HasMember("explode") && (*p)["explode"].IsTrue() && schema != nullptr &&
              schema->HasMember("type") && sv((*schema)["type"]) == "object") {
            free_form = true;
          }
        }
      }
      if (param == nullptr && free_form) continue;
      if (param == nullptr)
        return where + "the server took query parameter '" + name + "', which the document lacks";
      rapidjson::Document holder;
      const rapidjson::Value* schema = resolve((*param)["schema"]);
      auto why = validate(typed(value, schema, holder.GetAllocator()), (*param)["schema"]);
      if (!why.empty())
        return where + "the server took " + name + "=" + value +
               ", which the document refuses: " + why;
    }
  }
  // A JSON body the server took must be one the document takes.
  if (reply.status < 300 && !request.body.empty() &&
      lower(std::string(request.content_type)).starts_with("application/json") &&
      op->HasMember("requestBody") && !op->HasMember("x-items-checked-one-by-one")) {
    const auto& types = (*op)["requestBody"]["content"];
    rapidjson::Document sent;
    sent.Parse(request.body.data(), request.body.size());
    if (!sent.HasParseError() && types.HasMember("application/json")) {
      auto why = validate(sent, types["application/json"]["schema"]);
      if (!why.empty()) return where + "the server took a body the document refuses: " + why;
    }
  }
  if (!res->HasMember("content")) {
    if (!reply.body.empty()) return where + "a body where the document gives none";
    return {};
  }
  const auto& content = (*res)["content"];
  std::string media = type.substr(0, type.find(';'));
  const rapidjson::Value* media_obj = nullptr;
  for (auto m = content.MemberBegin(); m != content.MemberEnd(); ++m) {
    std::string documented = lower(std::string(sv(m->name)));
    if (documented.substr(0, documented.find(';')) == media) media_obj = &m->value;
  }
  if (media_obj == nullptr) return where + "media type '" + type + "' is not documented";
  if (reply.body.empty()) return where + "an empty body where the document gives one";
  if (!json) return {};
  auto why = validate(body, (*media_obj)["schema"]);
  return why.empty() ? std::string() : where + why;
}

}  // namespace referrald::testing
