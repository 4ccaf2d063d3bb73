#include "domain/attribution/resolution.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <utility>

#include "domain/base/csv.hpp"
#include "domain/base/json.hpp"

namespace referrald::domain {

namespace {

constexpr std::string_view k_reasons[] = {reasons::utm,
                                          reasons::click_id,
                                          reasons::internal,
                                          reasons::passthrough_session,
                                          reasons::passthrough_fallback,
                                          reasons::mapping,
                                          reasons::ai_platform,
                                          reasons::known_referrer,
                                          reasons::referral,
                                          reasons::direct};

constexpr std::string_view k_rule_types[] = {"passthrough", "mapping"};

bool has_rule(const resolution& r) {
  return !r.rule_type.empty() &&
         (r.reason == reasons::mapping || r.reason == reasons::passthrough_session ||
          r.reason == reasons::passthrough_fallback);
}

using t = answer_type;

constexpr answer_field k_rule[] = {
    {.name = "type",
     .type = t::text,
     .choices = k_rule_types,
     .plain = true,
     .text = [](const resolution& r) { return r.rule_type; },
     .column = "rule_type"},
    {.name = "id",
     .type = t::integer,
     .schema = R"("minimum":1)",
     .number = [](const resolution& r) { return r.rule_id; },
     .column = "rule_id"},
};

constexpr answer_field k_known[] = {
    {.name = "source",
     .type = t::text,
     .text = [](const resolution& r) { return std::string_view(r.known->source); },
     .column = "known_referrer"},
    {.name = "name",
     .type = t::text,
     .text =
         [](const resolution& r) {
           return std::string_view(r.known->name);
         }},
    {.name = "category",
     .type = t::text,
     .schema = R"("$ref":"#/components/schemas/ReferrerCategory")",
     .plain = true,
     .text =
         [](const resolution& r) {
           return to_string(r.known->category);
         }},
};

constexpr answer_field k_channel_rule[] = {
    {.name = "id",
     .type = t::integer,
     .schema = R"("minimum":1)",
     .number = [](const resolution& r) { return r.channel_rule->id; },
     .column = "channel_rule_id"},
    {.name = "name",
     .type = t::text,
     .text =
         [](const resolution& r) {
           return std::string_view(r.channel_rule->name);
         }},
};

constexpr answer_field k_fields[] = {
    {.name = "utm_source",
     .type = t::text,
     .text = [](const resolution& r) { return std::string_view(r.utms.source); },
     .column = "utm_source"},
    {.name = "utm_medium",
     .type = t::text,
     .text = [](const resolution& r) { return std::string_view(r.utms.medium); },
     .column = "utm_medium"},
    {.name = "utm_campaign",
     .type = t::text,
     .text = [](const resolution& r) { return std::string_view(r.utms.campaign); },
     .column = "utm_campaign"},
    {.name = "utm_term",
     .type = t::text,
     .text = [](const resolution& r) { return std::string_view(r.utms.term); },
     .column = "utm_term"},
    {.name = "utm_content",
     .type = t::text,
     .text = [](const resolution& r) { return std::string_view(r.utms.content); },
     .column = "utm_content"},
    {.name = "reason",
     .type = t::text,
     .choices = k_reasons,
     .plain = true,
     .text = [](const resolution& r) { return r.reason; },
     .column = "reason"},
    {.name = "rule",
     .type = t::object,
     .description = "the account's rule that decided, when the reason is mapping or passthrough_*",
     .present = [](const resolution& r) { return has_rule(r); },
     .members = k_rule},
    {.name = "referrer_host",
     .type = t::nullable_text,
     .description = "the referrer's host as normalized (lowercase, punycode, without www.)",
     .present = [](const resolution& r) { return !r.referrer_host.empty(); },
     .text = [](const resolution& r) { return r.referrer_host; },
     .column = "referrer_host"},
    {.name = "ai_platform",
     .type = t::nullable_text,
     .description = "the AI platform's id, when the referrer or utm_source is one, whichever "
                    "row decided",
     .present = [](const resolution& r) { return r.ai != nullptr; },
     .text = [](const resolution& r) { return std::string_view(r.ai->id); },
     .column = "ai_platform"},
    {.name = "known_referrer",
     .type = t::object,
     .description = "the known referrer that decided, when the reason is known_referrer",
     .present = [](const resolution& r) { return r.known != nullptr; },
     .members = k_known},
    {.name = "click_id",
     .type = t::nullable_text,
     .description = "the name of the landing URL's first known click id",
     .present = [](const resolution& r) { return r.click != nullptr; },
     .text = [](const resolution& r) { return std::string_view(r.click->name); },
     .column = "click_id"},
    {.name = "channel",
     .type = t::text,
     .schema = R"("anyOf":[{"$ref":"#/components/schemas/Channel"},)"
               R"({"type":"string","minLength":1,"maxLength":100}])",
     .description = "the channel of the account's first matching channel rule (any name it "
                    "gives), else one of the default group's",
     .text = [](const resolution& r) { return r.channel; },
     .column = "channel"},
    {.name = "channel_rule",
     .type = t::object,
     .description = "the account's channel rule that gave the channel",
     .present = [](const resolution& r) { return r.channel_rule != nullptr; },
     .members = k_channel_rule},
    {.name = "warnings",
     .type = t::text_list,
     .description = "what could not be read in the visit, and how it was treated",
     .list = [](const resolution& r) -> const std::vector<std::string>& { return r.warnings; },
     .column = "warnings"},
};

// Calls each(owner, field) for every field that fills a CSV column, in column order: a
// member of an object with its object as owner, any other field with itself.
template <class Each>
constexpr void each_column(std::span<const answer_field> fields, Each&& each) {
  for (const auto& field : fields) {
    if (field.type == answer_type::object) {
      for (const auto& m : field.members)
        if (!m.column.empty()) each(field, m);
    } else if (!field.column.empty()) {
      each(field, field);
    }
  }
}

constexpr std::size_t count_columns() {
  std::size_t n = 0;
  each_column(k_fields, [&](const answer_field&, const answer_field&) { ++n; });
  return n;
}

constexpr auto k_json_names = [] {
  std::array<std::string_view, std::size(k_fields)> names{};
  for (std::size_t i = 0; i < names.size(); ++i)
    names[i] = k_fields[i].name;
  return names;
}();

constexpr auto k_csv_names = [] {
  std::array<std::string_view, count_columns()> names{};
  std::size_t i = 0;
  each_column(k_fields, [&](const answer_field&, const answer_field& m) { names[i++] = m.column; });
  return names;
}();

// Writes at `p`, in room made for its bound(); returns the end of what it wrote.
class json_out {
 public:
  explicit json_out(char* p) : p_(p) {}

  char* end() const { return p_; }
  void raw(std::string_view s) {
    if (!s.empty()) std::memcpy(p_, s.data(), s.size());  // an empty view may be null
    p_ += s.size();
  }
  void ch(char c) { *p_++ = c; }
  void string(std::string_view s) { p_ = write_json_string(p_, s); }
  void number(std::int64_t n) { p_ = std::to_chars(p_, p_ + 20, n).ptr; }

 private:
  char* p_;
};

// The JSON writer of a table of fields, unrolled at compile time: each field's accessors
// are known constants, so the compiler calls them directly and writes each key (with its
// comma and colon) as one constant copy.
template <const answer_field* Fields, std::size_t N>
struct object_writer {
  // `,"name":` (without the comma for the first field).
  template <std::size_t I>
  static constexpr auto key = [] {
    constexpr std::string_view name = Fields[I].name;
    constexpr std::size_t comma = I == 0 ? 0 : 1;
    std::array<char, name.size() + 3 + comma> k{};
    std::size_t at = 0;
    if (comma != 0) k[at++] = ',';
    k[at++] = '"';
    for (char c : name)
      k[at++] = c;
    k[at++] = '"';
    k[at++] = ':';
    return k;
  }();

  template <std::size_t I>
  static std::size_t bound_of(const resolution& r) {
    constexpr const answer_field& f = Fields[I];
    std::size_t n = key<I>.size();
    if constexpr (f.type == answer_type::text) {
      n += json_string_bound(f.text(r).size());
    } else if constexpr (f.type == answer_type::nullable_text) {
      n += f.present(r) ? json_string_bound(f.text(r).size()) : 4;
    } else if constexpr (f.type == answer_type::integer) {
      n += 20;
    } else if constexpr (f.type == answer_type::object) {
      n += f.present(r) ? object_writer<f.members.data(), f.members.size()>::bound(r) : 4;
    } else {
      n += 2;
      for (const auto& item : f.list(r))
        n += json_string_bound(item.size()) + 1;
    }
    return n;
  }

  template <std::size_t I>
  static void write_one(json_out& o, const resolution& r) {
    constexpr const answer_field& f = Fields[I];
    o.raw({key<I>.data(), key<I>.size()});
    if constexpr (f.type == answer_type::text && f.plain) {
      o.ch('"');
      o.raw(f.text(r));
      o.ch('"');
    } else if constexpr (f.type == answer_type::text) {
      o.string(f.text(r));
    } else if constexpr (f.type == answer_type::nullable_text) {
      if (f.present(r)) {
        o.string(f.text(r));
      } else {
        o.raw("null");
      }
    } else if constexpr (f.type == answer_type::integer) {
      o.number(f.number(r));
    } else if constexpr (f.type == answer_type::object) {
      if (f.present(r)) {
        object_writer<f.members.data(), f.members.size()>::write(o, r);
      } else {
        o.raw("null");
      }
    } else {
      o.ch('[');
      bool first = true;
      for (const auto& item : f.list(r)) {
        if (!first) o.ch(',');
        first = false;
        o.string(item);
      }
      o.ch(']');
    }
  }

  static std::size_t bound(const resolution& r) {
    return [&]<std::size_t... I>(std::index_sequence<I...>) { return (2 + ... + bound_of<I>(r)); }
    (std::make_index_sequence<N>{});
  }

  static void write(json_out& o, const resolution& r) {
    o.ch('{');
    [&]<std::size_t... I>(std::index_sequence<I...>) { (write_one<I>(o, r), ...); }
    (std::make_index_sequence<N>{});
    o.ch('}');
  }
};

using answer_writer = object_writer<k_fields, std::size(k_fields)>;

void schema_of(std::string& out, const answer_field& field);

void object_schema(std::string& out, std::span<const answer_field> fields,
                   std::span<const std::pair<std::string_view, std::string_view>> extra) {
  out += R"({"type":"object","additionalProperties":false,"required":[)";
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out += ',';
    append_json_string(out, fields[i].name);
  }
  out += R"(],"properties":{)";
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out += ',';
    append_json_string(out, fields[i].name);
    out += ':';
    schema_of(out, fields[i]);
  }
  for (const auto& [name, json] : extra) {
    out += ',';
    append_json_string(out, name);
    out += ':';
    out += json;
  }
  out += "}}";
}

void schema_of(std::string& out, const answer_field& field) {
  std::string s = "{";
  auto member = [&](std::string_view text) {
    if (text.empty()) return;
    if (s.size() > 1) s += ',';
    s += text;
  };
  const bool ref = field.schema.find("\"$ref\"") != std::string_view::npos ||
                   field.schema.find("\"anyOf\"") != std::string_view::npos;
  switch (field.type) {
    case answer_type::text:
      if (!ref) member(R"("type":"string")");
      break;
    case answer_type::nullable_text:
      member(R"("type":["string","null"])");
      break;
    case answer_type::integer:
      member(R"("type":"integer")");
      break;
    case answer_type::text_list:
      member(R"("type":"array","items":{"type":"string"})");
      break;
    case answer_type::object: {
      std::string object;
      object_schema(object, field.members, {});
      member(R"("oneOf":[{"type":"null"},)" + object + "]");
      break;
    }
  }
  if (!field.choices.empty()) {
    std::string e = R"("enum":[)";
    for (std::size_t i = 0; i < field.choices.size(); ++i) {
      if (i > 0) e += ',';
      append_json_string(e, field.choices[i]);
    }
    member(e + "]");
  }
  member(field.schema);
  if (!field.description.empty()) {
    std::string d = R"("description":)";
    append_json_string(d, field.description);
    member(d);
  }
  out += s;
  out += '}';
}

}  // namespace

std::span<const std::string_view> all_reasons() { return k_reasons; }

std::span<const answer_field> resolution_fields() { return k_fields; }

std::span<const std::string_view> json_members() { return k_json_names; }

std::span<const std::string_view> csv_columns() { return k_csv_names; }

void append_json(std::string& out, const resolution& r) {
  const std::size_t old = out.size();
  out.resize(old + answer_writer::bound(r));
  json_out o(out.data() + old);
  answer_writer::write(o, r);
  out.resize(static_cast<std::size_t>(o.end() - out.data()));
}

void append_json(std::string& out, const resolution& r, std::string_view explain) {
  append_json(out, r);
  out.pop_back();  // the closing brace
  out += ",\"explain\":";
  out += explain;
  out += '}';
}

void append_csv_columns(std::string& out, const resolution& r) {
  std::string scratch;
  each_column(k_fields, [&](const answer_field& owner, const answer_field& m) {
    out += ',';
    const bool null =
        (owner.type == answer_type::object || owner.type == answer_type::nullable_text)
            ? !owner.present(r)
            : false;
    if (null) return;
    switch (m.type) {
      case answer_type::text:
      case answer_type::nullable_text:
        append_csv_field(out, m.text(r));
        break;
      case answer_type::integer: {
        char digits[24];
        auto end = std::to_chars(digits, digits + sizeof digits, m.number(r)).ptr;
        append_csv_field(out, std::string_view(digits, static_cast<std::size_t>(end - digits)));
        break;
      }
      case answer_type::text_list: {
        const auto& items = m.list(r);
        if (items.empty()) break;
        scratch = "[";
        for (std::size_t i = 0; i < items.size(); ++i) {
          if (i > 0) scratch += ',';
          append_json_string(scratch, items[i]);
        }
        scratch += ']';
        append_csv_field(out, scratch);
        break;
      }
      case answer_type::object:
        break;  // objects name columns through their members
    }
  });
}

std::string resolution_json_schema(
    std::span<const std::pair<std::string_view, std::string_view>> extra) {
  std::string out;
  object_schema(out, k_fields, extra);
  return out;
}

}  // namespace referrald::domain
