#include "domain/base/json.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "domain/base/clock.hpp"
#include "domain/base/text.hpp"

namespace referrald::domain {

namespace {

std::string_view key_of(const rapidjson::Value& name) {
  return {name.GetString(), name.GetStringLength()};
}

}  // namespace

std::string json_type_name(const rapidjson::Value& v) {
  if (v.IsNull()) return "null";
  if (v.IsBool()) return "a boolean";
  if (v.IsString()) return "a string";
  if (v.IsNumber()) return "a number";
  if (v.IsArray()) return "an array";
  return "an object";
}

field_reader::field_reader(const rapidjson::Value& body, std::span<const std::string_view> fields)
    : body_(&body) {
  if (body.IsObject() && body.MemberCount() > 64) {
    errors_.push_back({"", "the body has too many fields"});
    body_ = nullptr;
    return;
  }
  if (!body.IsObject()) {
    errors_.push_back({"", "the body must be a JSON object, not " + json_type_name(body)});
    body_ = nullptr;
    return;
  }
  for (auto it = body.MemberBegin(); it != body.MemberEnd(); ++it) {
    std::string_view key = key_of(it->name);
    bool repeated = false;
    for (auto prev = body.MemberBegin(); prev != it && !repeated; ++prev) {
      repeated = key_of(prev->name) == key;
    }
    if (repeated) {
      errors_.push_back({std::string(key), "is given more than once"});
      continue;
    }
    if (std::find(fields.begin(), fields.end(), key) != fields.end()) continue;
    if (std::find(std::begin(k_read_only_fields), std::end(k_read_only_fields), key) !=
        std::end(k_read_only_fields)) {
      errors_.push_back({std::string(key), "is read-only"});
    } else {
      errors_.push_back({std::string(key), "is not a known field"});
    }
  }
}

const rapidjson::Value* field_reader::value(std::string_view name) const {
  if (body_ == nullptr) return nullptr;
  for (auto it = body_->MemberBegin(); it != body_->MemberEnd(); ++it) {
    if (key_of(it->name) == name) return &it->value;
  }
  return nullptr;
}

bool field_reader::has(std::string_view name) const { return value(name) != nullptr; }

std::optional<std::string> field_reader::string_value(std::string_view name,
                                                      const rapidjson::Value& v, std::size_t min,
                                                      std::size_t max) {
  if (!v.IsString()) {
    fail(std::string(name), "must be a string, not " + json_type_name(v));
    return std::nullopt;
  }
  std::string_view s = trim(std::string_view(v.GetString(), v.GetStringLength()));
  if (auto bad = forbidden_character(s); !bad.empty()) {
    fail(std::string(name), "must not contain " + bad);
    return std::nullopt;
  }
  std::size_t len = utf8_length(s);
  if (len < min || len > max) {
    if (min > 0 && len == 0) {
      fail(std::string(name), "must not be empty");
    } else if (len > max) {
      fail(std::string(name), "must be at most " + std::to_string(max) + " characters long");
    } else {
      fail(std::string(name),
           "must be " + std::to_string(min) + " to " + std::to_string(max) + " characters long");
    }
    return std::nullopt;
  }
  return std::string(s);
}

std::optional<std::string> field_reader::required_string(std::string_view name, std::size_t min,
                                                         std::size_t max) {
  const rapidjson::Value* v = value(name);
  if (v == nullptr) {
    if (body_ != nullptr) fail(std::string(name), "is required");
    return std::nullopt;
  }
  return string_value(name, *v, min, max);
}

std::optional<std::string> field_reader::optional_string(std::string_view name, std::size_t min,
                                                         std::size_t max) {
  const rapidjson::Value* v = value(name);
  if (v == nullptr) return std::nullopt;
  return string_value(name, *v, min, max);
}

std::optional<std::optional<std::string>> field_reader::optional_nullable_string(
    std::string_view name, std::size_t max) {
  const rapidjson::Value* v = value(name);
  if (v == nullptr) return std::nullopt;
  if (v->IsNull()) return std::optional<std::string>{};
  if (!v->IsString()) {
    fail(std::string(name), "must be a string or null, not " + json_type_name(*v));
    return std::nullopt;
  }
  auto s = string_value(name, *v, 0, max);
  if (!s) return std::nullopt;
  return std::optional<std::string>{std::move(*s)};
}

std::optional<bool> field_reader::optional_bool(std::string_view name) {
  const rapidjson::Value* v = value(name);
  if (v == nullptr) return std::nullopt;
  if (!v->IsBool()) {
    fail(std::string(name), "must be a boolean, not " + json_type_name(*v));
    return std::nullopt;
  }
  return v->GetBool();
}

std::optional<std::int64_t> integral_value(const rapidjson::Value& v) {
  if (v.IsInt64()) return v.GetInt64();
  if (!v.IsDouble()) return std::nullopt;  // not a number, or an integer past int64
  double d = v.GetDouble();
  // 2^63 is exactly representable; anything at or past it does not fit.
  if (!std::isfinite(d) || d != std::trunc(d) || d < -9223372036854775808.0 ||
      d >= 9223372036854775808.0) {
    return std::nullopt;
  }
  return static_cast<std::int64_t>(d);
}

std::optional<std::int64_t> field_reader::optional_int(std::string_view name, std::int64_t min,
                                                       std::int64_t max) {
  const rapidjson::Value* v = value(name);
  if (v == nullptr) return std::nullopt;
  auto integral = integral_value(*v);
  if (!integral) {
    if (v->IsUint64()) {
      fail(std::string(name),
           "must be between " + std::to_string(min) + " and " + std::to_string(max));
    } else {
      fail(std::string(name),
           v->IsNumber() ? "must be an integer" : "must be an integer, not " + json_type_name(*v));
    }
    return std::nullopt;
  }
  std::int64_t x = *integral;
  if (x < min || x > max) {
    fail(std::string(name),
         "must be between " + std::to_string(min) + " and " + std::to_string(max));
    return std::nullopt;
  }
  return x;
}

void field_reader::fail(std::string field, std::string message) {
  errors_.push_back({std::move(field), std::move(message)});
}

status field_reader::finish() const {
  if (errors_.empty()) return {};
  std::string summary = "the request body is invalid: ";
  for (std::size_t i = 0; i < errors_.size(); ++i) {
    if (i > 0) summary += "; ";
    summary +=
        errors_[i].field.empty() ? errors_[i].message : errors_[i].field + " " + errors_[i].message;
  }
  return make_error(errc::validation_failed, std::move(summary), errors_);
}

stored_reader::stored_reader(const rapidjson::Value& v, std::string what)
    : v_(&v), what_(std::move(what)) {
  if (!v.IsObject()) problem_ = "not an object";
}

const rapidjson::Value* stored_reader::member(const char* key) {
  if (!problem_.empty()) return nullptr;
  auto it = v_->FindMember(key);
  if (it == v_->MemberEnd()) {
    problem_ = std::string("missing ") + key;
    return nullptr;
  }
  return &it->value;
}

void stored_reader::string(const char* key, std::string& out) {
  const auto* m = member(key);
  if (m == nullptr) return;
  if (!m->IsString()) {
    problem_ = std::string(key) + " is not a string";
    return;
  }
  out.assign(key_of(*m));
}

void stored_reader::nullable_string(const char* key, std::optional<std::string>& out) {
  const auto* m = member(key);
  if (m == nullptr) return;
  if (m->IsNull()) {
    out.reset();
  } else if (m->IsString()) {
    out = std::string(key_of(*m));
  } else {
    problem_ = std::string(key) + " is neither a string nor null";
  }
}

void stored_reader::integer(const char* key, std::int64_t& out) {
  const auto* m = member(key);
  if (m == nullptr) return;
  if (!m->IsInt64()) {
    problem_ = std::string(key) + " is not an integer";
    return;
  }
  out = m->GetInt64();
}

void stored_reader::boolean(const char* key, bool& out) {
  const auto* m = member(key);
  if (m == nullptr) return;
  if (!m->IsBool()) {
    problem_ = std::string(key) + " is not a boolean";
    return;
  }
  out = m->GetBool();
}

void stored_reader::timestamp(const char* key, std::int64_t& out) {
  std::string text;
  string(key, text);
  if (!problem_.empty()) return;
  auto t = parse_rfc3339(text);
  if (!t) {
    problem_ = std::string(key) + " is not an RFC 3339 time";
    return;
  }
  out = *t;
}

status stored_reader::finish() const {
  if (problem_.empty()) return {};
  return make_error(errc::internal, "stored " + what_ + ": " + problem_);
}

namespace {

status parse_error(const rapidjson::Document& doc) {
  std::size_t offset = doc.GetErrorOffset();
  return make_error(errc::invalid_json,
                    std::string("the body is not valid JSON: ") +
                        rapidjson::GetParseError_En(doc.GetParseError()) + " (at byte offset " +
                        std::to_string(offset) + ")",
                    {{"body", "offset " + std::to_string(offset)}});
}

}  // namespace

status parse_json(std::string_view text, rapidjson::Document& doc) {
  // Iterative parsing keeps deeply nested input ([[[[...) off the call stack; trailing
  // non-whitespace after the value is an error (kParseErrorDocumentRootNotSingular).
  doc.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(text.data(),
                                                                                    text.size());
  if (doc.HasParseError()) return parse_error(doc);
  return {};
}

status parse_json_insitu(std::string& text, rapidjson::Document& doc) {
  // In-situ parsing needs a terminating NUL; a NUL inside the body ends the document
  // there, and whatever follows it is reported like trailing garbage.
  if (text.find('\0') != std::string::npos) {
    return make_error(errc::invalid_json, "the body is not valid JSON: it contains a NUL byte",
                      {{"body", "offset " + std::to_string(text.find('\0'))}});
  }
  // RapidJSON's in-situ UTF-8 validation reads the continuation bytes of a multi-byte
  // sequence without looking for the terminator: a body ending in a lead byte would be
  // read up to three bytes past its end. Pad it with NULs it can read instead.
  const std::size_t size = text.size();
  text.append(4, '\0');
  doc.ParseInsitu<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(
      text.data());
  text.resize(size);  // no reallocation: the document's strings stay where they are
  if (doc.HasParseError()) return parse_error(doc);
  return {};
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";  // as RapidJSON writes them
  out.push_back('"');
  std::size_t plain = 0;  // start of the run of bytes that need no escaping
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        out += "\\u00";
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 0xF]);
    }
  }
  out.append(s.data() + plain, s.size() - plain);
  out.push_back('"');
}

void append_canonical_json(std::string& out, const rapidjson::Value& v) {
  if (v.IsNull()) {
    out += "null";
  } else if (v.IsBool()) {
    out += v.GetBool() ? "true" : "false";
  } else if (v.IsString()) {
    append_json_string(out, key_of(v));
  } else if (v.IsNumber()) {
    if (auto n = integral_value(v)) {
      out += std::to_string(*n);
    } else if (v.IsUint64()) {
      out += std::to_string(v.GetUint64());
    } else {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", v.GetDouble());
      out += buf;
    }
  } else if (v.IsArray()) {
    out.push_back('[');
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
      if (i > 0) out.push_back(',');
      append_canonical_json(out, v[i]);
    }
    out.push_back(']');
  } else {
    std::vector<const rapidjson::Value::Member*> members;
    members.reserve(v.MemberCount());
    for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it)
      members.push_back(&*it);
    std::stable_sort(members.begin(), members.end(), [](const auto* a, const auto* b) {
      return key_of(a->name) < key_of(b->name);
    });
    out.push_back('{');
    for (std::size_t i = 0; i < members.size(); ++i) {
      if (i > 0) out.push_back(',');
      append_json_string(out, key_of(members[i]->name));
      out.push_back(':');
      append_canonical_json(out, members[i]->value);
    }
    out.push_back('}');
  }
}

void write_nullable(json_writer& w, const std::optional<std::string>& s) {
  if (s) {
    write_string(w, *s);
  } else {
    w.Null();
  }
}

void write_string(json_writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void write_key(json_writer& w, std::string_view key) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
}

}  // namespace referrald::domain
