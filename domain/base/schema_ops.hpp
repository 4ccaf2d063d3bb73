#pragma once

// The operations every field table (domain/base/schema.hpp) gets: body parsing, patching,
// change lists, the API JSON, format 1 reading and the format 2 encoding. Included by the
// sources that instantiate them for a kind, not by headers.

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "domain/base/clock.hpp"
#include "domain/base/codec.hpp"
#include "domain/base/json.hpp"
#include "domain/base/schema.hpp"

namespace referrald::domain::schema {

// The names of a table's fields a body may carry.
template <class T>
std::vector<std::string_view> body_names(std::span<const field<T>> fields) {
  std::vector<std::string_view> names;
  for (const auto& f : fields)
    if (f.in_body()) names.push_back(f.name);
  return names;
}

// Reads every body field of `fields` from `in` into `out`; `create` reports missing
// required ones. Returns the fields given (and valid).
template <class T>
field_set read_body(field_reader& in, std::span<const field<T>> fields, T& out, bool create) {
  field_set given;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const auto& f = fields[i];
    if (!f.in_body()) continue;
    bool must = create && (f.flags & required) != 0;
    auto lo = static_cast<std::size_t>(f.min), hi = static_cast<std::size_t>(f.max);
    switch (f.type) {
      case type::string: {
        auto v = must ? in.required_string(f.name, lo, hi) : in.optional_string(f.name, lo, hi);
        if (!v) break;
        if (f.normalize != nullptr) {
          auto n = f.normalize(*v);
          if (!n) {
            in.fail(std::string(f.name), n.err().message);
            break;
          }
          *v = std::move(*n);
        }
        out.*std::get<std::string T::*>(f.at) = std::move(*v);
        given.set(i);
        break;
      }
      case type::nullable_string:
        if (auto v = in.optional_nullable_string(f.name, hi)) {
          out.*std::get<std::optional<std::string> T::*>(f.at) = std::move(*v);
          given.set(i);
        }
        break;
      case type::integer:
        if (must && !in.has(f.name)) {
          in.fail(std::string(f.name), "is required");
        } else if (auto v = in.optional_int(f.name, f.min, f.max)) {
          out.*std::get<std::int64_t T::*>(f.at) = *v;
          given.set(i);
        }
        break;
      case type::boolean:
        if (auto v = in.optional_bool(f.name)) {
          out.*std::get<bool T::*>(f.at) = *v;
          given.set(i);
        }
        break;
      case type::choice: {
        const auto& c = std::get<choice_access<T>>(f.at);
        auto v = must ? in.required_string(f.name, 1, 64) : in.optional_string(f.name, 1, 64);
        if (!v) break;
        std::uint8_t pos = 0;
        for (std::size_t k = 0; k < c.names.size() && pos == 0; ++k)
          if (c.names[k] == *v) pos = static_cast<std::uint8_t>(k + 1);
        if (pos == 0) {
          std::string all;
          for (std::size_t k = 0; k < c.names.size(); ++k) {
            if (k > 0) all += ", ";
            all += c.names[k];
          }
          in.fail(std::string(f.name), "must be one of " + all);
          break;
        }
        c.set(out, pos);
        given.set(i);
        break;
      }
      case type::date: {
        const rapidjson::Value* v = in.value(f.name);
        if (v == nullptr) {
          if (must) in.fail(std::string(f.name), "is required");
        } else if (!v->IsString()) {
          in.fail(std::string(f.name), "must be a string, not " + json_type_name(*v));
        } else if (auto d = parse_date(std::string_view(v->GetString(), v->GetStringLength()))) {
          out.*std::get<std::int64_t T::*>(f.at) = *d;
          given.set(i);
        } else {
          in.fail(std::string(f.name), "must be a real calendar date in the form YYYY-MM-DD");
        }
        break;
      }
      case type::nullable_integer: {
        const rapidjson::Value* v = in.value(f.name);
        if (v == nullptr || v->IsNull()) {
          if (must && v == nullptr) in.fail(std::string(f.name), "is required");
          if (v != nullptr) given.set(i);
          break;
        }
        auto n = integral_value(*v);
        if (n && *n >= f.min && *n <= f.max) {
          out.*std::get<std::optional<std::int64_t> T::*>(f.at) = *n;
          given.set(i);
        } else if (!v->IsNumber()) {
          in.fail(std::string(f.name), "must be an integer or null, not " + json_type_name(*v));
        } else if (f.min == 0 && f.max == std::numeric_limits<std::int64_t>::max()) {
          in.fail(std::string(f.name), "must be a whole number >= 0 or null");
        } else {
          in.fail(std::string(f.name), "must be a whole number between " + std::to_string(f.min) +
                                           " and " + std::to_string(f.max) + " or null");
        }
        break;
      }
      case type::nullable_number: {
        const rapidjson::Value* v = in.value(f.name);
        if (v == nullptr || v->IsNull()) {
          if (must && v == nullptr) in.fail(std::string(f.name), "is required");
          if (v != nullptr) given.set(i);
          break;
        }
        if (!v->IsNumber()) {
          in.fail(std::string(f.name), "must be a number or null, not " + json_type_name(*v));
        } else if (v->GetDouble() < static_cast<double>(f.min)) {
          in.fail(std::string(f.name), "must be a number >= " + std::to_string(f.min) + " or null");
        } else {
          out.*std::get<std::optional<double> T::*>(f.at) = v->GetDouble();
          given.set(i);
        }
        break;
      }
      case type::custom: {
        const rapidjson::Value* v = in.value(f.name);
        if ((v != nullptr || must) && std::get<custom_access<T>>(f.at).read(v, out, &in)) {
          given.set(i);
        }
        break;
      }
      case type::timestamp:
      case type::nullable_timestamp:
        break;  // always server-owned
    }
  }
  return given;
}

// Copies the fields `given` from `from` into `to`.
template <class T>
void copy_fields(std::span<const field<T>> fields, const field_set& given, const T& from, T& to) {
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (!given.test(i)) continue;
    std::visit(
        [&](const auto& m) {
          using M = std::decay_t<decltype(m)>;
          if constexpr (std::is_same_v<M, choice_access<T>>) {
            m.set(to, m.get(from));
          } else if constexpr (std::is_same_v<M, custom_access<T>>) {
            m.copy(from, to);
          } else if constexpr (!std::is_same_v<M, std::monostate>) {
            to.*m = from.*m;
          }
        },
        fields[i].at);
  }
}

// True when field `f` holds the same value in `a` and `b`.
template <class T>
bool same_value(const field<T>& f, const T& a, const T& b) {
  return std::visit(
      [&](const auto& m) {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, choice_access<T>>) {
          return m.get(a) == m.get(b);
        } else if constexpr (std::is_same_v<M, custom_access<T>>) {
          return m.same(a, b);
        } else if constexpr (std::is_same_v<M, std::monostate>) {
          return true;
        } else {
          return a.*m == b.*m;
        }
      },
      f.at);
}

// The names of the body fields whose value differs between `before` and `after`, in
// table order.
template <class T>
std::vector<std::string> changed_fields(std::span<const field<T>> fields, const T& before,
                                        const T& after) {
  std::vector<std::string> changed;
  for (const auto& f : fields)
    if (f.in_body() && !same_value(f, before, after)) changed.emplace_back(f.name);
  return changed;
}

// The members of the API JSON object of `v` (between the braces); with `body_only`, only
// the fields a body may set.
template <class T>
void write_members(json_writer& w, std::span<const field<T>> fields, std::string_view account_id,
                   const T& v, bool body_only = false) {
  for (const auto& f : fields) {
    if ((body_only && !f.in_body()) || (f.flags & hidden) != 0) continue;
    if (f.type == type::nullable_timestamp && (f.flags & omit_null) != 0 &&
        !(v.*std::get<std::optional<std::int64_t> T::*>(f.at))) {
      continue;
    }
    write_key(w, f.name);
    switch (f.type) {
      case type::string:
        if (f.tag == 0) {
          write_string(w, account_id);
        } else {
          write_string(w, v.*std::get<std::string T::*>(f.at));
        }
        break;
      case type::nullable_string:
        write_nullable(w, v.*std::get<std::optional<std::string> T::*>(f.at));
        break;
      case type::integer:
        w.Int64(v.*std::get<std::int64_t T::*>(f.at));
        break;
      case type::timestamp:
        write_string(w, format_rfc3339(v.*std::get<std::int64_t T::*>(f.at)));
        break;
      case type::nullable_timestamp:
        if (const auto& t = v.*std::get<std::optional<std::int64_t> T::*>(f.at)) {
          write_string(w, format_rfc3339(*t));
        } else {
          w.Null();
        }
        break;
      case type::boolean:
        w.Bool(v.*std::get<bool T::*>(f.at));
        break;
      case type::choice: {
        const auto& c = std::get<choice_access<T>>(f.at);
        auto pos = c.get(v);
        write_string(w, pos >= 1 && pos <= c.names.size() ? c.names[pos - 1] : "");
        break;
      }
      case type::date:
        write_string(w, format_date(v.*std::get<std::int64_t T::*>(f.at)));
        break;
      case type::nullable_integer:
        if (const auto& n = v.*std::get<std::optional<std::int64_t> T::*>(f.at)) {
          w.Int64(*n);
        } else {
          w.Null();
        }
        break;
      case type::nullable_number:
        if (const auto& n = v.*std::get<std::optional<double> T::*>(f.at)) {
          w.Double(*n);
        } else {
          w.Null();
        }
        break;
      case type::custom:
        std::get<custom_access<T>>(f.at).write(w, v);
        break;
    }
  }
}

// The API JSON object of `v`; with `body_only`, only the fields a body may set.
template <class T>
void write_object(json_writer& w, std::span<const field<T>> fields, std::string_view account_id,
                  const T& v, bool body_only = false) {
  w.StartObject();
  write_members(w, fields, account_id, v, body_only);
  w.EndObject();
}

// Reads back a format 1 object (the API JSON as format 1 wrote it); `what` names the
// object kind in the error.
template <class T>
result<T> read_v1(std::span<const field<T>> fields, const rapidjson::Value& v,
                  std::string_view what) {
  stored_reader in(v, std::string(what));
  T out{};
  std::string problem;
  for (const auto& f : fields) {
    if (f.tag == 0 || (f.flags & since_v2) != 0) continue;
    std::string key(f.stored_name());
    switch (f.type) {
      case type::string:
        in.string(key.c_str(), out.*std::get<std::string T::*>(f.at));
        break;
      case type::nullable_string:
        in.nullable_string(key.c_str(), out.*std::get<std::optional<std::string> T::*>(f.at));
        break;
      case type::integer:
        in.integer(key.c_str(), out.*std::get<std::int64_t T::*>(f.at));
        break;
      case type::timestamp:
        in.timestamp(key.c_str(), out.*std::get<std::int64_t T::*>(f.at));
        break;
      case type::nullable_timestamp: {
        auto& t = out.*std::get<std::optional<std::int64_t> T::*>(f.at);
        t.reset();
        if (v.IsObject() && v.HasMember(key.c_str()) && !v[key.c_str()].IsNull()) {
          std::int64_t at = 0;
          in.timestamp(key.c_str(), at);
          t = at;
        }
        break;
      }
      case type::boolean:
        in.boolean(key.c_str(), out.*std::get<bool T::*>(f.at));
        break;
      case type::choice: {
        const auto& c = std::get<choice_access<T>>(f.at);
        std::string name;
        in.string(key.c_str(), name);
        std::uint8_t pos = 0;
        for (std::size_t k = 0; k < c.names.size() && pos == 0; ++k)
          if (c.names[k] == name) pos = static_cast<std::uint8_t>(k + 1);
        if (pos == 0 && problem.empty()) problem = "unknown " + key + " '" + name + "'";
        if (pos != 0) c.set(out, pos);
        break;
      }
      case type::custom: {
        // Not an object: its members are not looked at (MemberEnd() of another value is
        // undefined in RapidJSON).
        bool read = false;
        if (v.IsObject()) {
          auto m = v.FindMember(key.c_str());
          read =
              m != v.MemberEnd() && std::get<custom_access<T>>(f.at).read(&m->value, out, nullptr);
        }
        if (!read && problem.empty()) problem = "missing or unreadable " + key;
        break;
      }
      case type::date:
      case type::nullable_integer:
      case type::nullable_number:
        // No format 1 object has these (format 1 is the rules, keys and connections).
        if (problem.empty()) problem = "field " + key + " has no format 1 form";
        break;
    }
  }
  if (auto st = in.finish(); !st) return std::move(st).err();
  if (!problem.empty())
    return make_error(errc::internal, "stored " + std::string(what) + ": " + problem);
  return out;
}

// Appends the format 2 encoding of `v`.
template <class T>
void encode(std::span<const field<T>> fields, const T& v, std::string& out) {
  auto zigzag = [](std::int64_t x) {
    return (static_cast<std::uint64_t>(x) << 1) ^ static_cast<std::uint64_t>(x >> 63);
  };
  for (const auto& f : fields) {
    if (!f.in_value()) continue;
    if (f.type == type::nullable_integer || f.type == type::nullable_number) {
      // A null metric is left out (decoding restores null): rows are many and mostly sparse.
      bool present = std::visit(
          [&](const auto& m) {
            using M = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<M, std::optional<std::int64_t> T::*> ||
                          std::is_same_v<M, std::optional<double> T::*>) {
              return (v.*m).has_value();
            } else {
              return true;
            }
          },
          f.at);
      if (!present) continue;
    }
    out.push_back(static_cast<char>(f.tag));
    switch (f.type) {
      case type::string:
        codec::put_lpstr(out, v.*std::get<std::string T::*>(f.at));
        break;
      case type::nullable_string: {
        const auto& s = v.*std::get<std::optional<std::string> T::*>(f.at);
        out.push_back(s ? '\x01' : '\x00');
        if (s) codec::put_lpstr(out, *s);
        break;
      }
      case type::integer:
      case type::timestamp:
      case type::date:
        codec::put_varint(out, zigzag(v.*std::get<std::int64_t T::*>(f.at)));
        break;
      case type::nullable_timestamp: {
        const auto& t = v.*std::get<std::optional<std::int64_t> T::*>(f.at);
        out.push_back(t ? '\x01' : '\x00');
        if (t) codec::put_varint(out, zigzag(*t));
        break;
      }
      case type::boolean:
        out.push_back(v.*std::get<bool T::*>(f.at) ? '\x01' : '\x00');
        break;
      case type::choice:
        out.push_back(static_cast<char>(std::get<choice_access<T>>(f.at).get(v)));
        break;
      case type::nullable_integer:
        out.push_back('\x01');
        codec::put_varint(out, zigzag(*(v.*std::get<std::optional<std::int64_t> T::*>(f.at))));
        break;
      case type::nullable_number: {
        out.push_back('\x01');
        double d = *(v.*std::get<std::optional<double> T::*>(f.at));
        std::uint64_t bits;
        std::memcpy(&bits, &d, sizeof bits);
        codec::put_fixed64(out, bits);
        break;
      }
      case type::custom:
        std::get<custom_access<T>>(f.at).encode(v, out);
        break;
    }
  }
}

// Decodes a format 2 object into `out` (whose strings' storage is reused: a scan decodes
// many objects into one); fields the encoding leaves out take their defaults. An error
// (saying what) for anything but a well-formed object.
template <class T>
status decode_into(std::span<const field<T>> fields, std::string_view bytes, T& out,
                   std::string_view what) {
  codec::reader r(bytes);
  field_set seen;
  auto bad = [&](const std::string& why) {
    return make_error(errc::internal, "stored " + std::string(what) + ": " + why);
  };
  while (r.remaining() > 0) {
    std::uint8_t tag = 0;
    (void)r.u8(tag);
    std::size_t i = 0;
    while (i < fields.size() && (fields[i].tag != tag || !fields[i].in_value()))
      ++i;
    if (i == fields.size()) return bad("unknown field tag " + std::to_string(tag));
    if (seen.test(i)) return bad("field tag " + std::to_string(tag) + " given twice");
    seen.set(i);
    const auto& f = fields[i];
    std::string name(f.name);
    switch (f.type) {
      case type::string:
        if (!r.lpstr(out.*std::get<std::string T::*>(f.at))) return bad(name + " is truncated");
        break;
      case type::nullable_string: {
        std::uint8_t present = 0;
        if (!r.u8(present) || present > 1) return bad(name + " is malformed");
        auto& s = out.*std::get<std::optional<std::string> T::*>(f.at);
        if (present == 0) {
          s.reset();
        } else {
          s.emplace();
          if (!r.lpstr(*s)) return bad(name + " is truncated");
        }
        break;
      }
      case type::integer:
      case type::timestamp:
      case type::date: {
        std::uint64_t z = 0;
        if (!r.varint(z)) return bad(name + " is malformed");
        out.*std::get<std::int64_t T::*>(f.at) =
            static_cast<std::int64_t>(z >> 1) ^ -static_cast<std::int64_t>(z & 1);
        break;
      }
      case type::nullable_timestamp:
      case type::nullable_integer: {
        std::uint8_t present = 0;
        std::uint64_t z = 0;
        if (!r.u8(present) || present > 1 || (present == 1 && !r.varint(z))) {
          return bad(name + " is malformed");
        }
        auto& t = out.*std::get<std::optional<std::int64_t> T::*>(f.at);
        if (present == 1) {
          t = static_cast<std::int64_t>(z >> 1) ^ -static_cast<std::int64_t>(z & 1);
        } else {
          t.reset();
        }
        break;
      }
      case type::boolean: {
        std::uint8_t b = 0;
        if (!r.u8(b) || b > 1) return bad(name + " is malformed");
        out.*std::get<bool T::*>(f.at) = b == 1;
        break;
      }
      case type::choice: {
        const auto& c = std::get<choice_access<T>>(f.at);
        std::uint8_t pos = 0;
        if (!r.u8(pos) || pos == 0 || pos > c.names.size()) return bad(name + " is malformed");
        c.set(out, pos);
        break;
      }
      case type::nullable_number: {
        std::uint8_t present = 0;
        std::uint64_t bits = 0;
        if (!r.u8(present) || present > 1 || (present == 1 && !r.fixed64(bits))) {
          return bad(name + " is malformed");
        }
        auto& n = out.*std::get<std::optional<double> T::*>(f.at);
        if (present == 1) {
          double d;
          std::memcpy(&d, &bits, sizeof d);
          n = d;
        } else {
          n.reset();
        }
        break;
      }
      case type::custom:
        if (!std::get<custom_access<T>>(f.at).decode(r, out)) return bad(name + " is malformed");
        break;
    }
  }
  static const T defaults{};
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (!seen.test(i) && fields[i].in_value())
      copy_fields(fields, field_set().set(i), defaults, out);
  }
  return {};
}

// Decodes a format 2 object (decode_into a new one).
template <class T>
result<T> decode(std::span<const field<T>> fields, std::string_view bytes, std::string_view what) {
  T out{};
  if (auto st = decode_into(fields, bytes, out, what); !st) return std::move(st).err();
  return out;
}

}  // namespace referrald::domain::schema
