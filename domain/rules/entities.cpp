#include "domain/rules/entities.hpp"

#include "domain/base/schema_ops.hpp"

namespace referrald::domain {

namespace {

template <class T>
std::size_t index_of(std::string_view name) {
  auto fields = kind_traits<T>::fields();
  for (std::size_t i = 0; i < fields.size(); ++i)
    if (fields[i].name == name) return i;
  return fields.size();
}

// What a kind checks beyond single fields, when a body is read (`in` collects problems).
template <class T>
void check_body(T&, field_reader&, const schema::field_set&, bool) {}

// A mapping's pattern is normalized for its match type: at create, with the type given or
// the default; in a patch body only when both are given (else when it is applied).
template <>
void check_body(referrer_mapping& m, field_reader& in, const schema::field_set& given,
                bool create) {
  static const std::size_t pattern = index_of<referrer_mapping>("referrer_pattern");
  static const std::size_t type = index_of<referrer_mapping>("match_type");
  bool type_ok = !in.has("match_type") || given.test(type);
  if (!given.test(pattern) || !type_ok || (!create && !given.test(type))) return;
  referrer_mapping normal = m;
  if (auto st = mapping_normalize(normal); !st) {
    in.fail("referrer_pattern",
            st.err().details.empty() ? st.err().message : st.err().details[0].message);
    return;
  }
  if (create) m = std::move(normal);
}

// Normalizes what depends on several fields once a patch is applied.
template <class T>
status normalize_patched(T&, const schema::field_set&) {
  return {};
}

// A channel rule's pattern and conditions are checked together: at create (parse_create),
// and once a patch is applied.
template <>
status normalize_patched(channel_rule& c, const schema::field_set&) {
  return channel_rule_normalize(c);
}

// Settings' campaign parameters are checked together when a body names one of them (stored
// settings an earlier release accepted stay as they are until then).
template <>
status normalize_patched(account_settings& s, const schema::field_set& given) {
  static const std::size_t first = index_of<account_settings>("campaign_parameter_presets");
  static const std::size_t last = index_of<account_settings>("content_parameters");
  for (std::size_t i = first; i <= last; ++i) {
    if (given.test(i)) return check_campaign_parameters(s);
  }
  return {};
}

template <>
status normalize_patched(referrer_mapping& m, const schema::field_set& given) {
  static const std::size_t pattern = index_of<referrer_mapping>("referrer_pattern");
  static const std::size_t type = index_of<referrer_mapping>("match_type");
  if (!given.test(pattern) && !given.test(type)) return {};
  return mapping_normalize(m);
}

// Derives what is not stored, once an entity is read back. Stored patterns are kept as
// they are (checks added later do not make old rules unreadable); a regex is compiled.
template <class T>
status after_read(T&) {
  return {};
}

template <>
status after_read(referrer_mapping& m) {
  if (m.match_type != match_type::regex) return {};
  auto re = compiled_regex::compile(m.referrer_pattern);
  if (!re) {
    return make_error(errc::internal,
                      "stored referrer mapping: regex no longer compiles: " + re.err().message);
  }
  m.regex = std::move(*re);
  return {};
}

template <>
status after_read(channel_rule& c) {
  if (c.match_type != match_type::regex || !c.referrer_pattern) return {};
  auto re = compiled_regex::compile(*c.referrer_pattern);
  if (!re) {
    return make_error(errc::internal,
                      "stored channel rule: regex no longer compiles: " + re.err().message);
  }
  c.regex = std::move(*re);
  return {};
}

template <class T>
std::string_view name_of(std::uint8_t tag) {
  for (const auto& f : kind_traits<T>::fields())
    if (f.tag == tag && tag != 0) return f.name;
  return {};
}

template <class T>
std::uint8_t tag_of(std::string_view name) {
  for (const auto& f : kind_traits<T>::fields())
    if (f.name == name) return f.tag;
  return 0;
}

}  // namespace

entity_kind kind_of(event_type t) {
  return static_cast<entity_kind>((static_cast<int>(t) - 1) / 3 + 1);
}

template <rule_kind T>
const std::vector<std::string_view>& body_field_names() {
  static const std::vector<std::string_view> names =
      schema::body_names<T>(kind_traits<T>::fields());
  return names;
}

template <rule_kind T>
result<T> parse_create(const rapidjson::Value& body) {
  field_reader in(body, body_field_names<T>());
  T value{};
  auto given = schema::read_body<T>(in, kind_traits<T>::fields(), value, true);
  check_body(value, in, given, true);
  if (auto st = in.finish(); !st) return std::move(st).err();
  if constexpr (std::is_same_v<T, channel_rule> || std::is_same_v<T, account_settings>) {
    if (auto st = normalize_patched(value, given); !st) return std::move(st).err();
  }
  return value;
}

template <rule_kind T>
result<schema::patch<T>> parse_patch(const rapidjson::Value& body) {
  field_reader in(body, body_field_names<T>());
  schema::patch<T> p;
  p.given = schema::read_body<T>(in, kind_traits<T>::fields(), p.values, false);
  check_body(p.values, in, p.given, false);
  if (auto st = in.finish(); !st) return std::move(st).err();
  return p;
}

template <rule_kind T>
result<std::vector<std::string>> apply_patch(T& v, const schema::patch<T>& p) {
  T next = v;
  schema::copy_fields<T>(kind_traits<T>::fields(), p.given, p.values, next);
  if (auto st = normalize_patched(next, p.given); !st) return std::move(st).err();
  auto changed = schema::changed_fields<T>(kind_traits<T>::fields(), v, next);
  v = std::move(next);
  return changed;
}

template <rule_kind T>
void write_json(json_writer& w, std::string_view account_id, const T& value) {
  schema::write_object<T>(w, kind_traits<T>::fields(), account_id, value);
}

template <rule_kind T>
std::string entity_json(std::string_view account_id, const T& value) {
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  write_json(w, account_id, value);
  return {buf.GetString(), buf.GetSize()};
}

template <rule_kind T>
std::string encode_object(const T& value) {
  std::string out;
  encode_object(value, out);
  return out;
}

template <rule_kind T>
void encode_object(const T& value, std::string& out) {
  schema::encode<T>(kind_traits<T>::fields(), value, out);
}

template <rule_kind T>
result<T> decode_object(object_format format, std::string_view bytes) {
  result<T> value = make_error(errc::internal, "unknown object format");
  if (format == object_format::json) {
    rapidjson::Document doc;
    doc.Parse(bytes.data(), bytes.size());
    if (doc.HasParseError()) {
      return make_error(errc::internal,
                        "stored " + std::string(kind_traits<T>::noun) + ": not JSON");
    }
    value = schema::read_v1<T>(kind_traits<T>::fields(), doc, kind_traits<T>::noun);
  } else if (format == object_format::tagged) {
    value = schema::decode<T>(kind_traits<T>::fields(), bytes, kind_traits<T>::noun);
  }
  if (!value) return value;
  if (auto st = after_read(*value); !st) return std::move(st).err();
  return value;
}

std::uint8_t field_tag(event_type t, std::string_view name) {
  return visit_kind(kind_of(t), [&]<class T>(std::type_identity<T>) { return tag_of<T>(name); });
}

std::string_view field_name(event_type t, std::uint8_t tag) {
  return visit_kind(kind_of(t), [&]<class T>(std::type_identity<T>) { return name_of<T>(tag); });
}

#define REFERRALD_RULE_KIND(T)                                                        \
  template const std::vector<std::string_view>& body_field_names<T>();                \
  template result<T> parse_create(const rapidjson::Value&);                           \
  template result<schema::patch<T>> parse_patch(const rapidjson::Value&);             \
  template result<std::vector<std::string>> apply_patch(T&, const schema::patch<T>&); \
  template void write_json(json_writer&, std::string_view, const T&);                 \
  template std::string entity_json(std::string_view, const T&);                       \
  template std::string encode_object(const T&);                                       \
  template void encode_object(const T&, std::string&);                                \
  template result<T> decode_object(object_format, std::string_view);
REFERRALD_RULE_KIND(passthrough_referrer)
REFERRALD_RULE_KIND(referrer_mapping)
REFERRALD_RULE_KIND(channel_rule)
REFERRALD_RULE_KIND(account_settings)
#undef REFERRALD_RULE_KIND

}  // namespace referrald::domain
