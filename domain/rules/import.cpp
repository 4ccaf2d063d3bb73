#include "domain/rules/import.hpp"

#include <rapidjson/document.h>

#include <cerrno>
#include <cstdlib>
#include <unordered_map>

#include "domain/base/csv.hpp"
#include "domain/base/schema_ops.hpp"
#include "domain/base/text.hpp"

namespace referrald::domain {

namespace {

// Why an import of `count` rows cannot be, or nothing: 1 to k_import_max_rows rows, or none
// for mode replace (which then deletes every rule of the kind: an empty export imports back).
std::optional<std::string> row_count_problem(std::size_t count, import_mode mode,
                                             std::string_view what) {
  if (count > k_import_max_rows || (count == 0 && mode != import_mode::replace)) {
    return "must hold 1 to " + std::to_string(k_import_max_rows) + " " + std::string(what) +
           " (or none with mode replace, which deletes every rule of the kind), not " +
           std::to_string(count);
  }
  return std::nullopt;
}

std::string row_name(std::string_view list, std::size_t i) {
  return std::string(list) + "[" + std::to_string(i) + "]";
}

// Collects rows checked as create bodies (`checked[i]` for row i), refusing repeated
// normalized keys; each problem is recorded in `in` under "<list>[i].<field>".
template <rule_kind T>
std::vector<T> collect_rows(std::vector<result<T>> checked, field_reader& in) {
  using traits = kind_traits<T>;
  std::vector<T> out;
  out.reserve(checked.size());
  std::unordered_map<std::string, std::size_t> first;
  auto report = [&](std::string field, std::string message) {
    in.fail(std::move(field), std::move(message));
  };
  for (std::size_t i = 0; i < checked.size(); ++i) {
    auto& row = checked[i];
    if (!row) {
      const auto& e = row.err();
      if (e.details.empty()) report(row_name(traits::list_name, i), e.message);
      for (const auto& d : e.details) {
        report(row_name(traits::list_name, i) + (d.field.empty() ? "" : "." + d.field), d.message);
      }
      continue;
    }
    auto [it, fresh] = first.emplace(traits::key(*row), i);
    if (!fresh) {
      report(row_name(traits::list_name, i) + "." + std::string(traits::key_field),
             "repeats " + row_name(traits::list_name, it->second) + " ('" + excerpt(it->first) +
                 "' once normalized); each rule may appear once");
      continue;
    }
    out.push_back(std::move(*row));
  }
  return out;
}

// Checks every row as a create body, in order, on this thread.
template <rule_kind T>
std::vector<result<T>> check_rows(const std::vector<const rapidjson::Value*>& rows) {
  std::vector<result<T>> checked;
  checked.reserve(rows.size());
  for (const auto* row : rows)
    checked.push_back(parse_create<T>(*row));
  return checked;
}

// The JSON value of one CSV cell for field `f`, or nullopt for an empty cell of a field
// that is then left out (it takes its default); `why` says what is wrong otherwise.
template <class T>
bool cell_value(const schema::field<T>& f, const std::string& cell, rapidjson::Value& out,
                rapidjson::Document::AllocatorType& alloc, std::string& why) {
  switch (f.type) {
    case schema::type::string:
    case schema::type::choice:
      out.SetString(cell.data(), static_cast<rapidjson::SizeType>(cell.size()), alloc);
      return true;
    case schema::type::nullable_string:
      if (cell.empty()) {
        out.SetNull();
      } else {
        out.SetString(cell.data(), static_cast<rapidjson::SizeType>(cell.size()), alloc);
      }
      return true;
    case schema::type::integer: {
      std::string t(trim(cell));
      rapidjson::Document n;
      if (t.empty() || !parse_json(t, n).ok() || !n.IsNumber()) {
        why = "must be a whole number, not '" + excerpt(cell) + "'";
        return false;
      }
      out.CopyFrom(n, alloc);
      return true;
    }
    case schema::type::boolean: {
      std::string t = to_lower_ascii(trim(cell));
      if (t == "true" || t == "1") {
        out.SetBool(true);
      } else if (t == "false" || t == "0") {
        out.SetBool(false);
      } else {
        why = "must be true or false, not '" + excerpt(cell) + "'";
        return false;
      }
      return true;
    }
    case schema::type::custom: {
      // A list of strings: its items separated by '|' ("email|newsletter"); an empty item
      // ("email||newsletter", "email|") is a mistake to say, not to drop.
      out.SetArray();
      std::string_view rest = cell;
      while (true) {
        std::size_t bar = rest.find('|');
        std::string_view item = trim(rest.substr(0, bar));
        if (item.empty()) {
          why = "holds an empty item in '" + excerpt(cell) +
                "': items are separated by one '|' (email|newsletter)";
          return false;
        }
        out.PushBack(
            rapidjson::Value(item.data(), static_cast<rapidjson::SizeType>(item.size()), alloc),
            alloc);
        if (bar == std::string_view::npos) break;
        rest = rest.substr(bar + 1);
      }
      return true;
    }
    case schema::type::timestamp:
    case schema::type::nullable_timestamp:
    case schema::type::date:
    case schema::type::nullable_integer:
    case schema::type::nullable_number:
      break;  // no rule kind has a body field of these types
  }
  why = "is not a field an import sets";
  return false;
}

}  // namespace

std::optional<import_mode> import_mode_from_string(std::string_view s) {
  if (s == "create") return import_mode::create;
  if (s == "upsert") return import_mode::upsert;
  if (s == "replace") return import_mode::replace;
  return std::nullopt;
}

std::string_view to_string(import_mode m) {
  switch (m) {
    case import_mode::create:
      return "create";
    case import_mode::upsert:
      return "upsert";
    case import_mode::replace:
      return "replace";
  }
  return "create";
}

template <rule_kind T>
import_envelope read_import_envelope(const rapidjson::Value& body) {
  using traits = kind_traits<T>;
  const std::string_view names[] = {"mode", "validate_only", traits::list_name};
  field_reader in(body, names);
  import_envelope env;
  if (auto mode = in.optional_string("mode", 1, 32)) {
    if (auto m = import_mode_from_string(*mode)) {
      env.mode = *m;
    } else {
      in.fail("mode", "must be one of create, upsert, replace");
    }
  }
  if (auto v = in.optional_bool("validate_only")) env.validate_only = *v;
  if (body.IsObject()) {
    auto it = body.FindMember(rapidjson::StringRef(
        traits::list_name.data(), static_cast<rapidjson::SizeType>(traits::list_name.size())));
    if (it == body.MemberEnd()) {
      in.fail(std::string(traits::list_name), "is required");
    } else if (!it->value.IsArray()) {
      in.fail(std::string(traits::list_name),
              "must be an array of rules, not " + json_type_name(it->value));
    } else if (auto why = row_count_problem(it->value.Size(), env.mode, "rules")) {
      in.fail(std::string(traits::list_name), std::move(*why));
    } else {
      for (const auto& row : it->value.GetArray())
        env.rows.push_back(&row);
    }
  }
  if (auto st = in.finish(); !st) env.problems = std::move(st).err().details;
  return env;
}

template <rule_kind T>
result<import_request<T>> collect_import_rows(import_envelope envelope,
                                              std::vector<result<T>> checked) {
  rapidjson::Value none(rapidjson::kObjectType);
  field_reader in(none, std::span<const std::string_view>());
  for (auto& p : envelope.problems)
    in.fail(std::move(p.field), std::move(p.message));
  import_request<T> req;
  req.mode = envelope.mode;
  req.validate_only = envelope.validate_only;
  req.rows = collect_rows<T>(std::move(checked), in);
  if (auto st = in.finish(); !st) return std::move(st).err();
  return req;
}

template <rule_kind T>
result<import_request<T>> parse_import_json(const rapidjson::Value& body) {
  auto envelope = read_import_envelope<T>(body);
  auto checked = check_rows<T>(envelope.rows);
  return collect_import_rows<T>(std::move(envelope), std::move(checked));
}

template <rule_kind T>
result<std::vector<T>> parse_import_csv(std::string_view text, import_mode mode) {
  using traits = kind_traits<T>;
  auto records = parse_csv(text, k_import_max_rows + 1);
  if (!records) return std::move(records).err();
  rapidjson::Document doc(rapidjson::kObjectType);
  field_reader in(doc, std::span<const std::string_view>());
  if (records->empty()) {
    in.fail("body", "is empty: a CSV import needs a header row of field names and 1 to " +
                        std::to_string(k_import_max_rows) + " rows");
    if (auto st = in.finish(); !st) return std::move(st).err();
  }
  // The header: body field names, each at most once.
  const auto fields = traits::fields();
  std::vector<const schema::field<T>*> columns;
  for (const auto& raw : records->front()) {
    std::string name(trim(raw));
    const schema::field<T>* found = nullptr;
    for (const auto& f : fields)
      if (f.in_body() && f.name == name) found = &f;
    if (found == nullptr) {
      std::string known;
      for (auto n : body_field_names<T>())
        known += (known.empty() ? "" : ", ") + std::string(n);
      in.fail(name.empty() ? "header" : excerpt(name),
              "is not a column a " + std::string(traits::noun) + " import takes (" + known + ")");
    } else if (std::find(columns.begin(), columns.end(), found) != columns.end()) {
      in.fail(name, "is a column of the header more than once");
    }
    columns.push_back(found);
  }
  std::size_t count = records->size() - 1;
  if (auto why = row_count_problem(count, mode, "rows after the header")) {
    in.fail(std::string(traits::list_name), std::move(*why));
  }
  if (auto st = in.finish(); !st) return std::move(st).err();
  // Each row as the JSON object a create body would be, then the JSON path.
  auto& alloc = doc.GetAllocator();
  rapidjson::Value objects(rapidjson::kArrayType);
  objects.Reserve(static_cast<rapidjson::SizeType>(count), alloc);
  std::vector<std::string> shape_problems;
  for (std::size_t r = 1; r < records->size(); ++r) {
    const auto& record = (*records)[r];
    rapidjson::Value object(rapidjson::kObjectType);
    std::string row = row_name(traits::list_name, r - 1);
    if (record.size() != columns.size()) {
      in.fail(row, "has " + std::to_string(record.size()) + " cells; the header has " +
                       std::to_string(columns.size()));
    } else {
      for (std::size_t c = 0; c < columns.size(); ++c) {
        const auto& f = *columns[c];
        if (record[c].empty() && f.type != schema::type::nullable_string &&
            f.type != schema::type::string) {
          continue;  // left out: the default
        }
        rapidjson::Value v;
        std::string why;
        if (!cell_value(f, record[c], v, alloc, why)) {
          in.fail(row + "." + std::string(f.name), why);
          continue;
        }
        object.AddMember(
            rapidjson::StringRef(f.name.data(), static_cast<rapidjson::SizeType>(f.name.size())), v,
            alloc);
      }
    }
    objects.PushBack(object, alloc);
  }
  std::vector<const rapidjson::Value*> rows;
  for (const auto& o : objects.GetArray())
    rows.push_back(&o);
  auto out = collect_rows<T>(check_rows<T>(rows), in);
  if (auto st = in.finish(); !st) return std::move(st).err();
  return out;
}

template <rule_kind T>
result<import_plan<T>> plan_import(const account_state& s, import_request<T>& req) {
  using traits = kind_traits<T>;
  const auto& existing = s.entities<T>();
  import_plan<T> plan;
  std::vector<field_error> taken;
  std::unordered_map<std::int64_t, bool> kept;
  plan.creates.reserve(req.rows.size());
  for (std::size_t i = 0; i < req.rows.size(); ++i) {
    T& row = req.rows[i];
    auto holder = existing.with_key(traits::key(row));
    if (!holder) {
      plan.creates.push_back(std::move(row));
      continue;
    }
    kept[*holder] = true;
    if (req.mode == import_mode::create) {
      if (taken.size() < max_error_details) {
        taken.push_back(
            {row_name(traits::list_name, i) + "." + std::string(traits::key_field),
             "already used by " + std::string(traits::noun) + " " + std::to_string(*holder)});
      }
      continue;
    }
    const T& old = *existing.find(*holder);
    T next = std::move(row);
    next.id = old.id;
    next.created_at = old.created_at;
    next.updated_at = old.updated_at;
    auto changed = schema::changed_fields<T>(traits::fields(), old, next);
    if (changed.empty()) {
      ++plan.unchanged;
    } else {
      plan.updates.push_back({std::move(next), std::move(changed)});
    }
  }
  if (!taken.empty()) {
    std::size_t count = taken.size();
    return make_error(errc::conflict,
                      std::to_string(count) +
                          " rule(s) of the import already exist in "
                          "account " +
                          s.account_id() +
                          " (mode create adds new rules only; use upsert to update them)",
                      std::move(taken));
  }
  if (req.mode == import_mode::replace) {
    for (auto [id, e] : existing.items())
      if (kept.find(id) == kept.end()) plan.deletes.push_back(id);
  }
  return plan;
}

template <class T>
std::string import_summary_json(const import_request<T>& req, const import_plan<T>& plan) {
  return R"({"mode":")" + std::string(to_string(req.mode)) + R"(","validate_only":)" +
         (req.validate_only ? "true" : "false") + R"(,"created":)" +
         std::to_string(plan.creates.size()) + R"(,"updated":)" +
         std::to_string(plan.updates.size()) + R"(,"deleted":)" +
         std::to_string(plan.deletes.size()) + R"(,"unchanged":)" + std::to_string(plan.unchanged) +
         "}";
}

template <rule_kind T>
std::string export_json(const account_state& s, bool include_inactive) {
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  w.StartObject();
  write_key(w, kind_traits<T>::list_name);
  w.StartArray();
  for (auto [id, e] : s.entities<T>().items()) {
    if (!include_inactive && !e->value.is_active) continue;
    schema::write_object<T>(w, kind_traits<T>::fields(), s.account_id(), e->value, true);
  }
  w.EndArray();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

template <rule_kind T>
std::string export_csv(const account_state& s, bool include_inactive) {
  const auto fields = kind_traits<T>::fields();
  std::string out;
  bool first = true;
  for (const auto& f : fields) {
    if (!f.in_body()) continue;
    if (!first) out.push_back(',');
    first = false;
    append_csv_field(out, f.name);
  }
  out += "\r\n";
  for (auto [id, e] : s.entities<T>().items()) {
    const T& v = e->value;
    if (!include_inactive && !v.is_active) continue;
    first = true;
    for (const auto& f : fields) {
      if (!f.in_body()) continue;
      if (!first) out.push_back(',');
      first = false;
      switch (f.type) {
        case schema::type::string:
          append_csv_field(out, v.*std::get<std::string T::*>(f.at));
          break;
        case schema::type::nullable_string:
          if (const auto& n = v.*std::get<std::optional<std::string> T::*>(f.at)) {
            append_csv_field(out, *n);
          }
          break;
        case schema::type::integer:
          out += std::to_string(v.*std::get<std::int64_t T::*>(f.at));
          break;
        case schema::type::boolean:
          out += v.*std::get<bool T::*>(f.at) ? "true" : "false";
          break;
        case schema::type::choice: {
          const auto& c = std::get<schema::choice_access<T>>(f.at);
          out += c.names[c.get(v) - 1];
          break;
        }
        case schema::type::custom: {
          // A list of strings, '|' between items (what cell_value reads).
          rapidjson::StringBuffer buf;
          json_writer w(buf);
          std::get<schema::custom_access<T>>(f.at).write(w, v);
          rapidjson::Document d;
          d.Parse(buf.GetString(), buf.GetSize());
          std::string cell;
          if (d.IsArray()) {
            for (const auto& item : d.GetArray()) {
              if (!item.IsString()) continue;
              if (!cell.empty()) cell += '|';
              cell.append(item.GetString(), item.GetStringLength());
            }
          }
          append_csv_field(out, cell);
          break;
        }
        case schema::type::timestamp:
        case schema::type::nullable_timestamp:
        case schema::type::date:
        case schema::type::nullable_integer:
        case schema::type::nullable_number:
          break;  // no rule kind has a body field of these types
      }
    }
    out += "\r\n";
  }
  return out;
}

#define REFERRALD_IMPORT_KIND(T)                                                             \
  template result<import_request<T>> parse_import_json(const rapidjson::Value&);             \
  template result<std::vector<T>> parse_import_csv(std::string_view, import_mode);           \
  template result<import_plan<T>> plan_import(const account_state&, import_request<T>&);     \
  template std::string import_summary_json(const import_request<T>&, const import_plan<T>&); \
  template std::string export_json<T>(const account_state&, bool);                           \
  template std::string export_csv<T>(const account_state&, bool);
REFERRALD_IMPORT_KIND(passthrough_referrer)
REFERRALD_IMPORT_KIND(referrer_mapping)
REFERRALD_IMPORT_KIND(channel_rule)
#undef REFERRALD_IMPORT_KIND

}  // namespace referrald::domain
