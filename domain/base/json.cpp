#include "domain/base/json.hpp"

#include <rapidjson/document.h>
#include <rapidjson/encodedstream.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <set>

#include "domain/base/clock.hpp"
#include "domain/base/json_scan.hpp"
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

field_reader::field_reader(const rapidjson::Value& body, std::span<const std::string_view> fields,
                           bool others_allowed)
    : body_(&body) {
  if (others_allowed && body.IsObject()) {
    // Only this reader's own fields are checked for repeats: O(members · fields).
    for (auto field : fields) {
      int seen = 0;
      for (auto it = body.MemberBegin(); it != body.MemberEnd(); ++it)
        seen += key_of(it->name) == field ? 1 : 0;
      if (seen > 1) fail(std::string(field), "is given more than once");
    }
    return;
  }
  if (body.IsObject() && body.MemberCount() > 64) {
    fail("", "the body has too many fields");
    body_ = nullptr;
    return;
  }
  if (!body.IsObject()) {
    fail("", "the body must be a JSON object, not " + json_type_name(body));
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
      fail(std::string(key), "is given more than once");
      continue;
    }
    if (std::find(fields.begin(), fields.end(), key) != fields.end()) continue;
    if (std::find(std::begin(k_read_only_fields), std::end(k_read_only_fields), key) !=
        std::end(k_read_only_fields)) {
      fail(std::string(key), "is read-only");
    } else {
      fail(std::string(key), "is not a known field");
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
  return std::nullopt;  // not a number, an integer past int64, or not an integer value
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
  if (errors_.size() < max_error_details) {
    errors_.push_back({std::move(field), std::move(message)});
  } else {
    ++more_;
  }
}

status field_reader::finish() const {
  if (errors_.empty()) return {};
  // The message names the first problems, each shortened, in at most about 1,000 bytes;
  // `details` has them all (up to max_error_details).
  constexpr std::size_t k_message_bytes = 1000;
  std::string summary = "the request body is invalid: ";
  std::size_t told = 0;
  for (; told < errors_.size() && summary.size() < k_message_bytes; ++told) {
    if (told > 0) summary += "; ";
    const auto& e = errors_[told];
    summary += e.field.empty() ? excerpt(e.message, 200)
                               : excerpt(e.field, 100) + " " + excerpt(e.message, 200);
  }
  std::size_t untold = errors_.size() - told + more_;
  if (untold > 0) {
    summary += "; and " + std::to_string(untold) + " more problem" + (untold == 1 ? "" : "s");
  }
  std::vector<field_error> details = errors_;
  if (more_ > 0) {
    details.push_back({"body", "and " + std::to_string(more_) + " more problem" +
                                   (more_ == 1 ? "" : "s") + " not listed"});
  }
  return make_error(errc::validation_failed, std::move(summary), std::move(details));
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

// The detail of a JSON text's problem: the body is a field of the request ("body"); a
// line of NDJSON is the item itself, which has no field name of its own ("").
std::vector<field_error> at_offset(std::string_view what, std::size_t offset) {
  return {
      {what == "body" ? std::string("body") : std::string(), "offset " + std::to_string(offset)}};
}

status parse_error(rapidjson::ParseErrorCode code, std::size_t offset, std::string_view what) {
  return make_error(errc::invalid_json,
                    "the " + std::string(what) +
                        " is not valid JSON: " + rapidjson::GetParseError_En(code) +
                        " (at byte offset " + std::to_string(offset) + ")",
                    at_offset(what, offset));
}

constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Hands `doc` every event of the reader, except that a number arrives as its text
// (kParseNumbersAsStringsFlag) and is stored by what the text says: an integer value (in
// decimal or exponent form: 7, -0, 1.0, 1e2, 250e-1, but not 255e-1) that fits int64 or
// uint64 as that integer, anything else as a double. Integrality is decided on the text,
// never on a double that has already rounded it (1e-400 underflows to 0, and
// 9007199254740993 rounds to an even neighbour).
struct number_text_handler {
  rapidjson::Document& doc;

  bool Null() { return doc.Null(); }
  bool Bool(bool b) { return doc.Bool(b); }
  bool Int(int i) { return doc.Int(i); }
  bool Uint(unsigned u) { return doc.Uint(u); }
  bool Int64(std::int64_t i) { return doc.Int64(i); }
  bool Uint64(std::uint64_t u) { return doc.Uint64(u); }
  bool Double(double d) { return doc.Double(d); }
  bool String(const char* s, rapidjson::SizeType n, bool copy) { return doc.String(s, n, copy); }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) { return doc.Key(s, n, copy); }
  bool StartObject() { return doc.StartObject(); }
  bool EndObject(rapidjson::SizeType n) { return doc.EndObject(n); }
  bool StartArray() { return doc.StartArray(); }
  bool EndArray(rapidjson::SizeType n) { return doc.EndArray(n); }

  bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
    std::string_view text(s, n);
    // The common case, a plain integer of at most 18 digits, needs no more than from_chars.
    if (n <= 18 && find_first_of<'.', 'e', 'E'>(text) == std::string_view::npos) {
      std::int64_t v = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec == std::errc() && end == text.data() + text.size()) return doc.Int64(v);
    }
    if (auto integer = integer_of(text)) {
      if (integer->negative) {
        if (integer->magnitude <= std::uint64_t{1} << 63) {
          return doc.Int64(static_cast<std::int64_t>(0 - integer->magnitude));
        }
      } else if (integer->magnitude <= static_cast<std::uint64_t>(INT64_MAX)) {
        return doc.Int64(static_cast<std::int64_t>(integer->magnitude));
      } else {
        return doc.Uint64(integer->magnitude);
      }
    }
    double d = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
    // The reader has refused a number too large for a double; what is left out of range is
    // an underflow, whose value is zero.
    if (ec == std::errc::result_out_of_range) d = text.starts_with('-') ? -0.0 : 0.0;
    return doc.Double(d);
  }

  struct integer_value {
    bool negative = false;
    std::uint64_t magnitude = 0;
  };

  // The integer `text` (in the grammar of RFC 8259, which the reader has checked) denotes
  // when it denotes one that fits 64 bits, else nullopt.
  static std::optional<integer_value> integer_of(std::string_view text) {
    integer_value out;
    std::size_t i = 0;
    if (text[i] == '-') {
      out.negative = true;
      ++i;
    }
    std::string_view whole, fraction;
    std::size_t start = i;
    while (i < text.size() && is_digit(text[i]))
      ++i;
    whole = text.substr(start, i - start);
    if (i < text.size() && text[i] == '.') {
      start = ++i;
      while (i < text.size() && is_digit(text[i]))
        ++i;
      fraction = text.substr(start, i - start);
    }
    std::int64_t exponent = 0;  // saturated: nothing past +-10^9 matters here
    if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
      bool minus = text[++i] == '-';
      if (text[i] == '+' || text[i] == '-') ++i;
      for (; i < text.size(); ++i)
        exponent = std::min<std::int64_t>(exponent * 10 + (text[i] - '0'), 1'000'000'000);
      if (minus) exponent = -exponent;
    }
    // The significant digits, whole then fraction, without leading or trailing zeros.
    std::string digits;
    digits.reserve(whole.size() + fraction.size());
    digits.append(whole).append(fraction);
    exponent -= static_cast<std::int64_t>(fraction.size());
    std::size_t first = digits.find_first_not_of('0');
    if (first == std::string::npos) return integer_value{};  // zero, however written
    std::size_t last = digits.find_last_not_of('0');
    exponent += static_cast<std::int64_t>(digits.size() - 1 - last);
    digits = digits.substr(first, last + 1 - first);
    if (exponent < 0) return std::nullopt;  // a fraction is left
    if (static_cast<std::int64_t>(digits.size()) + exponent > 20) return std::nullopt;
    std::uint64_t v = 0;
    for (char c : digits) {
      auto d = static_cast<std::uint64_t>(c - '0');
      if (v > (UINT64_MAX - d) / 10) return std::nullopt;
      v = v * 10 + d;
    }
    for (std::int64_t k = 0; k < exponent; ++k) {
      if (v > UINT64_MAX / 10) return std::nullopt;
      v *= 10;
    }
    out.magnitude = v;
    return out;
  }
};

// Parses `is` into `doc` with the flags every request body is read with: UTF-8 validated,
// iterative (deep nesting stays off the call stack), numbers by their text.
template <unsigned Extra, class Stream>
status parse_into(rapidjson::Document& doc, Stream& is, std::string_view what = "body") {
  constexpr unsigned flags = rapidjson::kParseValidateEncodingFlag |
                             rapidjson::kParseIterativeFlag |
                             rapidjson::kParseNumbersAsStringsFlag | Extra;
  rapidjson::ParseResult result;
  auto generate = [&](rapidjson::Document& d) {
    rapidjson::Reader reader;
    number_text_handler handler{d};
    result = reader.Parse<flags>(is, handler);
    return !result.IsError();
  };
  doc.Populate(generate);
  if (result.IsError()) {
    doc.SetNull();
    return parse_error(result.Code(), result.Offset(), what);
  }
  return {};
}

// RapidJSON reads a NUL byte as the end of its input, so a NUL after the value would end the
// document there and hide what follows it; no JSON text contains one (RFC 8259 section 2).
status refuse_nul(std::string_view text, std::string_view what) {
  if (auto at = text.find('\0'); at != std::string_view::npos) {
    return make_error(errc::invalid_json,
                      "the " + std::string(what) + " is not valid JSON: it contains a NUL byte",
                      at_offset(what, at));
  }
  return {};
}

}  // namespace

status parse_json(std::string_view text, rapidjson::Document& doc, std::string_view what) {
  if (auto st = refuse_nul(text, what); !st) return st;
  // The start of a body may carry a byte order mark (RFC 8259 lets a parser ignore it, and
  // RapidJSON does); a line of NDJSON after the first may not: it is no file's start.
  if (what != "body" && text.starts_with("\xEF\xBB\xBF")) {
    return make_error(errc::invalid_json,
                      "the " + std::string(what) +
                          " is not valid JSON: it starts with a byte order mark (U+FEFF), "
                          "which only the start of the body may have",
                      at_offset(what, 0));
  }
  // Trailing non-whitespace after the value is an error (kParseErrorDocumentRootNotSingular).
  rapidjson::MemoryStream ms(text.data(), text.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> is(ms);
  return parse_into<0>(doc, is, what);
}

status parse_json_insitu(std::string& text, rapidjson::Document& doc) {
  if (auto st = refuse_nul(text, "body"); !st) return st;
  // RapidJSON's in-situ UTF-8 validation reads the continuation bytes of a multi-byte
  // sequence without looking for the terminator: a body ending in a lead byte would be
  // read up to three bytes past its end. Pad it with NULs it can read instead.
  const std::size_t size = text.size();
  text.append(4, '\0');
  rapidjson::InsituStringStream is(text.data());
  auto st = parse_into<rapidjson::kParseInsituFlag>(doc, is);
  text.resize(size);  // no reallocation: the document's strings stay where they are
  return st;
}

char* write_json_string(char* p, std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";  // as RapidJSON writes them
  auto put = [&p](const char* from, std::size_t n) {
    if (n != 0) std::memcpy(p, from, n);  // an empty view's data may be null
    p += n;
  };
  *p++ = '"';
  // Most strings of an answer are short and plain: checked as four words (padded with
  // spaces, which need no escape) and copied whole.
  if (s.size() <= 32) {
    std::uint64_t words[4] = {0x2020202020202020ull, 0x2020202020202020ull, 0x2020202020202020ull,
                              0x2020202020202020ull};
    if (!s.empty()) std::memcpy(words, s.data(), s.size());  // an empty view may be null
    if ((json_string_bytes_to_check(words[0]) | json_string_bytes_to_check(words[1]) |
         json_string_bytes_to_check(words[2]) | json_string_bytes_to_check(words[3])) == 0) {
      put(s.data(), s.size());
      *p++ = '"';
      return p;
    }
  }
  std::size_t plain = 0;  // start of the run of bytes that need no escaping
  for (std::size_t i = 0; i < s.size();) {
    // Eight bytes at a time through the plain runs, which are most of every string.
    for (std::uint64_t x; i + 8 <= s.size(); i += 8) {
      std::memcpy(&x, s.data() + i, 8);
      if (json_string_bytes_to_check(x) != 0) break;
    }
    if (i >= s.size()) break;
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      if (std::size_t len = utf8_sequence_length(s, i); len != 0) {
        i += len;
        continue;
      }
      put(s.data() + plain, i - plain);
      put("\xEF\xBF\xBD", 3);  // U+FFFD
      plain = ++i;
      continue;
    }
    if (c >= 0x20 && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    put(s.data() + plain, i - plain);
    plain = ++i;
    *p++ = '\\';
    switch (c) {
      case '"':
        *p++ = '"';
        break;
      case '\\':
        *p++ = '\\';
        break;
      case '\n':
        *p++ = 'n';
        break;
      case '\r':
        *p++ = 'r';
        break;
      case '\t':
        *p++ = 't';
        break;
      case '\b':
        *p++ = 'b';
        break;
      case '\f':
        *p++ = 'f';
        break;
      default:
        put("u00", 3);
        *p++ = hex[c >> 4];
        *p++ = hex[c & 0xF];
    }
  }
  put(s.data() + plain, s.size() - plain);
  *p++ = '"';
  return p;
}

void append_json_string(std::string& out, std::string_view s) {
  const std::size_t old = out.size();
  out.resize(old + json_string_bound(s.size()));
  out.resize(static_cast<std::size_t>(write_json_string(out.data() + old, s) - out.data()));
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

// Strings and keys are escaped by append_json_string and handed to the writer as raw
// JSON, so that every text a handler writes takes the one escaping path.
void write_string(json_writer& w, std::string_view s) {
  thread_local std::string literal;
  literal.clear();
  append_json_string(literal, s);
  w.RawValue(literal.data(), literal.size(), rapidjson::kStringType);
}

void write_key(json_writer& w, std::string_view key) { write_string(w, key); }

bool read_string_list(const rapidjson::Value& obj, const char* key, std::vector<std::string>& out,
                      bool lower) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || !it->value.IsArray()) return false;
  for (const auto& v : it->value.GetArray()) {
    if (!v.IsString()) return false;
    std::string_view text(v.GetString(), v.GetStringLength());
    out.push_back(lower ? to_lower_ascii(text) : std::string(text));
  }
  return true;
}

void write_string_list(json_writer& w, const char* key, const std::vector<std::string>& items) {
  w.Key(key);
  w.StartArray();
  for (const auto& s : items)
    write_string(w, s);
  w.EndArray();
}

}  // namespace referrald::domain
