#pragma once

// One definition per field. A stored object type declares its fields once, in a table of
// schema::field: API name, JSON type, nullability, limits, whether a body may set it,
// its normalizer and its stored tag. Everything else is derived from the table by the
// templates below: create and patch parsing (with every validation message), applying a
// patch and naming the fields it changed, the API JSON, reading back the JSON objects of
// format 1 (which stored the API JSON), and the tagged binary encoding of format 2; they
// are in domain/base/schema_ops.hpp, for the sources that define a kind's operations.
//
// Stored encoding (format 2) of one object:
//
//   object   := field*                     (in table order; each tag at most once)
//   field    := tag:u8 value
//   value    := string:   lpstr
//             | nullable: 0x00 | 0x01 lpstr
//             | integer, timestamp (unix ms): zigzag varint
//             | nullable timestamp: 0x00 | 0x01 zigzag varint
//             | boolean:  0x00 | 0x01
//             | choice:   u8, the 1-based position of the name in the field's choices
//             | date (days since 1970-01-01): zigzag varint
//             | nullable integer: 0x01 zigzag varint   (a null one is left out;
//             | nullable number:  0x01 fixed64 (IEEE    0x00 also reads as null)
//                                 754 double)
//             | custom:   as the field's own encoder writes it (its grammar is next to
//                         the table that declares it)
//   lpstr, varint, fixed64 as in domain/base/codec.hpp
//
// Fields flagged `keyed` are held in the stored record's key (its identity), not in this
// encoding. Tags are never reused or renumbered; a field missing from a stored object takes the
// default of a value-initialized object (so adding a field with a default leaves every
// stored object, and its hash, as it was); an unknown tag is corruption. Renaming an
// API field changes nothing stored. Format 1 objects are read by their API names as they
// were when format 1 was written, which are the `v1_name` of each field.

#include <bitset>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "domain/base/codec.hpp"
#include "domain/base/json.hpp"
#include "domain/base/result.hpp"

namespace referrald::domain::schema {

enum class type : std::uint8_t {
  string,
  nullable_string,
  integer,
  boolean,
  timestamp,
  nullable_timestamp,
  choice,
  date,              // std::int64_t days since 1970-01-01; "YYYY-MM-DD" in JSON
  nullable_integer,  // std::optional<std::int64_t>, within [min, max]
  nullable_number,   // std::optional<double>, >= min
  custom             // custom_access<T>: the field reads, writes and encodes itself
};

// A field whose value is one of a few names, held in the object as an enum.
template <class T>
struct choice_access {
  std::uint8_t (*get)(const T&);  // 1-based position in `names`
  void (*set)(T&, std::uint8_t);
  std::span<const std::string_view> names;
};

// The name at 1-based position `pos` of `names` (`fallback` when out of range), and back.
inline std::string_view choice_name(std::span<const std::string_view> names, std::size_t pos,
                                    std::string_view fallback) {
  return pos >= 1 && pos <= names.size() ? names[pos - 1] : fallback;
}
inline std::optional<std::uint8_t> choice_position(std::span<const std::string_view> names,
                                                   std::string_view name) {
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<std::uint8_t>(i + 1);
  return std::nullopt;
}

// A field whose value has a shape of its own (a list, a digest): the table names the
// functions that read, write, compare and encode it.
template <class T>
struct custom_access {
  // Reads the field from a body member (`v` null when the body lacks it), reporting
  // problems through `in`; with `in` null, reads the format 1 stored JSON. True when it
  // set a value.
  bool (*read)(const rapidjson::Value* v, T& out, field_reader* in);
  void (*write)(json_writer& w, const T& v);
  void (*encode)(const T& v, std::string& out);
  bool (*decode)(codec::reader& in, T& out);
  bool (*same)(const T& a, const T& b);
  void (*copy)(const T& from, T& to);
  // The value's JSON Schema (2020-12), for the published contract (http/openapi.cpp).
  std::string_view json_schema;
};

template <class T, class E, E T::*M>
std::uint8_t get_choice(const T& v) {
  return static_cast<std::uint8_t>(v.*M);
}
template <class T, class E, E T::*M>
void set_choice(T& v, std::uint8_t c) {
  v.*M = static_cast<E>(c);
}

template <class T>
using member = std::variant<std::monostate,  // the owning account's id (output only)
                            std::string T::*, std::optional<std::string> T::*, std::int64_t T::*,
                            std::optional<std::int64_t> T::*, bool T::*, choice_access<T>,
                            std::optional<double> T::*, custom_access<T>>;

enum flag : std::uint8_t {
  required = 1,   // a create body must give it
  server = 2,     // set by the server (id, timestamps): never in a body
  omit_null = 4,  // left out of the API JSON while null (format 1 left it out too)
  hidden = 8,     // never in the API JSON (a secret's digest)
  keyed = 16,     // stored in the record's key, not in its value encoding
  since_v2 = 32,  // added after format 1: a format 1 object lacks it (it takes its default)
};

template <class T>
struct field {
  std::string_view name;  // in the API
  std::uint8_t tag;       // in the stored encoding; 0: not stored (the account id)
  schema::type type;
  member<T> at;
  std::uint8_t flags = 0;
  std::int64_t min = 0;  // strings: code points; integers: value
  std::int64_t max = 0;
  // Turns a trimmed, length-checked string into its stored form, or says what is wrong.
  result<std::string> (*normalize)(std::string_view) = nullptr;
  std::string_view v1_name = {};  // when the API name differs from format 1's

  std::string_view stored_name() const { return v1_name.empty() ? name : v1_name; }
  bool in_body() const { return (flags & server) == 0 && tag != 0; }
  bool in_value() const { return tag != 0 && (flags & keyed) == 0; }
};

// Which fields of a table a body gave (bit i: table entry i).
using field_set = std::bitset<32>;

// A PATCH body: `values` holds what the body gave for each field in `given`.
template <class T>
struct patch {
  T values{};
  field_set given;
};

}  // namespace referrald::domain::schema
