#pragma once

// A field holding a list of strings (schema::type::custom), for any table: the values a
// channel rule's utm_source condition accepts, an account's own domains. Each item is
// trimmed, checked for length, normalized (when the list has a normalizer), and listed
// once (a repeat of an earlier item, after normalization, is dropped); '|' is refused (it
// separates the items in CSV). An absent list is empty; null is refused like any other
// non-array.
//
// Stored (format 2):  list := count:varint item:lpstr*   (in the order given)

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>
#include <string_view>
#include <vector>

#include "domain/base/codec.hpp"
#include "domain/base/json.hpp"
#include "domain/base/schema.hpp"
#include "domain/base/text.hpp"

namespace referrald::domain::schema {

struct string_list_rules {
  std::string_view name;   // the field, in messages
  std::size_t max_items;   // at most this many
  std::size_t max_length;  // code points per item (after trimming), at least 1
  result<std::string> (*normalize)(std::string_view) = nullptr;
  std::string_view json_schema;
};

template <class T, std::vector<std::string> T::*M, const string_list_rules& R>
struct string_list {
  static bool read(const rapidjson::Value* v, T& out, field_reader* in) {
    auto fail = [&](std::string field, std::string message) {
      if (in != nullptr) in->fail(std::move(field), std::move(message));
    };
    if (v == nullptr) return false;
    std::vector<std::string> items;
    if (!v->IsArray()) {
      fail(std::string(R.name), "must be an array of strings ([] for none)");
      return false;
    }
    if (v->Size() > R.max_items) {
      fail(std::string(R.name), "must list at most " + std::to_string(R.max_items) +
                                    (R.max_items == 1 ? " item" : " items"));
      return false;
    }
    bool ok = true;
    for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
      const auto& item = (*v)[i];
      std::string field = std::string(R.name) + "[" + std::to_string(i) + "]";
      if (!item.IsString()) {
        fail(field, "must be a string");
        ok = false;
        continue;
      }
      std::string_view s = trim({item.GetString(), item.GetStringLength()});
      std::size_t length = utf8_length(s);
      if (length == 0 || length > R.max_length) {
        fail(field, "must be 1 to " + std::to_string(R.max_length) + " characters long");
        ok = false;
        continue;
      }
      if (auto bad = forbidden_character(s); !bad.empty()) {
        fail(field, "must not contain " + bad);
        ok = false;
        continue;
      }
      if (s.find('|') != std::string_view::npos) {
        fail(field, "must not contain '|' (it separates a list's items in CSV)");
        ok = false;
        continue;
      }
      std::string value(s);
      if (R.normalize != nullptr) {
        auto n = R.normalize(s);
        if (!n) {
          fail(field, n.err().message);
          ok = false;
          continue;
        }
        value = std::move(*n);
      }
      bool seen = false;
      for (const auto& earlier : items)
        seen = seen || earlier == value;
      if (!seen) items.push_back(std::move(value));
    }
    if (!ok) return false;
    out.*M = std::move(items);
    return true;
  }
  static void write(json_writer& w, const T& v) {
    w.StartArray();
    for (const auto& s : v.*M)
      write_string(w, s);
    w.EndArray();
  }
  static void encode(const T& v, std::string& out) {
    codec::put_varint(out, (v.*M).size());
    for (const auto& s : v.*M)
      codec::put_lpstr(out, s);
  }
  static bool decode(codec::reader& in, T& v) {
    std::uint64_t n = 0;
    if (!in.varint(n) || n > in.remaining()) return false;
    std::vector<std::string> items(n);
    for (auto& s : items)
      if (!in.lpstr(s)) return false;
    v.*M = std::move(items);
    return true;
  }
  static bool same(const T& a, const T& b) { return a.*M == b.*M; }
  static void copy(const T& from, T& to) { to.*M = from.*M; }

  static custom_access<T> access() {
    return {&read, &write, &encode, &decode, &same, &copy, R.json_schema};
  }
};

}  // namespace referrald::domain::schema
