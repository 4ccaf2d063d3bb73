#include "domain/ai/ai_referrals.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <array>
#include <functional>
#include <limits>

#include "domain/base/clock.hpp"
#include "domain/base/json.hpp"
#include "domain/base/schema_ops.hpp"
#include "domain/base/text.hpp"
#include "domain/web/host.hpp"
#include "domain/web/url.hpp"

namespace referrald::domain {

namespace {

// Row identities (date, referrer, page) -> index of the row holding it, by open
// addressing over indices into `rows` (no allocation per row).
class identity_table {
 public:
  identity_table(const std::vector<ai_row>& rows, std::size_t max_rows) : rows_(rows) {
    std::size_t cap = 16;
    while (cap < 2 * max_rows)
      cap *= 2;
    slots_.assign(cap, 0);
  }

  // The index of the row with r's identity, or, when there is none, `next` (which the
  // caller then fills).
  std::size_t find_or_add(const ai_row& r, std::size_t next) {
    std::size_t mask = slots_.size() - 1;
    std::size_t h = std::hash<std::string_view>{}(r.page);
    h ^= std::hash<std::string_view>{}(r.referrer) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h ^= static_cast<std::size_t>(r.date) * 0x9e3779b97f4a7c15ULL;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
      if (slots_[i] == 0) {
        slots_[i] = static_cast<std::uint32_t>(next + 1);
        return next;
      }
      const ai_row& o = rows_[slots_[i] - 1];
      if (o.date == r.date && o.page == r.page && o.referrer == r.referrer) return slots_[i] - 1;
    }
  }

 private:
  const std::vector<ai_row>& rows_;
  std::vector<std::uint32_t> slots_;
};

}  // namespace

std::string normalize_page(std::string_view raw) {
  std::string_view v = trim(raw);
  // Only a value that names its scheme is a full URL ("blog/post" is a page path).
  auto u = parse_url(v, idna_mode::browser);
  if (u && !u->scheme.empty() && u->kind != host_kind::none) {
    return u->path.empty() ? std::string("/") : std::move(u->path);
  }
  return std::string(v);
}

std::span<const schema::field<ai_row>> ai_row_fields() {
  using schema::field, schema::type, schema::required, schema::server, schema::keyed;
  using R = ai_row;
  constexpr std::int64_t any = std::numeric_limits<std::int64_t>::max();
  // Tags are stored: never reuse or renumber one.
  static const field<R> fields[] = {
      {"date", 1, type::date, &R::date, required | keyed},
      {"raw_referrer_value", 2, type::string, &R::raw_referrer, required, 1, 512},
      {"raw_page_value", 3, type::string, &R::raw_page, required, 1, 2048},
      {"pageviews", 4, type::nullable_integer, &R::pageviews, 0, 0, any},
      {"sessions", 5, type::nullable_integer, &R::sessions, 0, 0, any},
      {"transactions", 6, type::nullable_integer, &R::transactions, 0, 0, any},
      {"purchase_revenue", 7, type::nullable_number, &R::purchase_revenue, 0, 0, 0},
      {"batch_id", 8, type::nullable_string, &R::batch_id, 0, 0, 128},
      {"referrer", 9, type::string, &R::referrer, server | keyed},
      {"page", 10, type::string, &R::page, server | keyed},
      {"platform", 11, type::string, &R::platform, server},
      {"list_version", 12, type::string, &R::list_version, server},
      {"received_at", 13, type::timestamp, &R::received_at, server},
  };
  return fields;
}

result<push_outcome> validate_push(const rapidjson::Value& body, const ai_platform_list& list,
                                   unix_ms now) {
  if (!body.IsArray()) {
    return field_invalid("body",
                         std::string("must be a JSON array of rows, not ") + json_type_name(body));
  }
  std::size_t n = body.Size();
  if (n == 0) return field_invalid("body", "must hold at least one row");
  if (n > k_push_max_rows) {
    return field_invalid("body", "must hold at most 10000 rows, not " + std::to_string(n));
  }
  static const std::vector<std::string_view> names = schema::body_names(ai_row_fields());
  constexpr std::size_t k_referrer = 1, k_page = 2;  // positions in ai_row_fields()
  push_outcome out;
  out.rows.reserve(n);
  // The last occurrence of an identity wins, in the place of the first.
  identity_table seen(out.rows, n);
  std::optional<std::string> common_batch;
  bool all_same_batch = true;
  for (rapidjson::SizeType i = 0; i < n; ++i) {
    const rapidjson::Value& row = body[i];
    std::string problems;
    ai_row r;
    if (!row.IsObject()) {
      problems = "row must be an object, not " + json_type_name(row);
    } else {
      field_reader in(row, names);
      auto given = schema::read_body(in, ai_row_fields(), r, true);
      if (given.test(k_referrer)) {
        auto host = normalize_host(r.raw_referrer, idna_mode::browser);
        const ai_platform* platform =
            list.lookup(r.raw_referrer, host ? std::string_view(*host) : std::string_view());
        if (platform == nullptr) {
          in.fail("raw_referrer_value", "'" + excerpt(r.raw_referrer) +
                                            "' is not on the AI platform allow-list (version " +
                                            list.version() + ")");
        } else {
          r.platform = platform->id;
          r.referrer = host ? std::move(*host) : to_lower_ascii(r.raw_referrer);
        }
      }
      if (given.test(k_page)) r.page = normalize_page(r.raw_page);
      if (r.batch_id && r.batch_id->empty()) r.batch_id.reset();  // "" is none
      if (auto st = in.finish(); !st) {
        for (const auto& d : st.err().details) {
          if (!problems.empty()) problems += "; ";
          problems += d.field.empty() ? d.message : d.field + " " + d.message;
        }
      }
    }
    // The push's batch id: the same non-empty value on every row.
    if (i == 0) {
      common_batch = r.batch_id;
    } else if (r.batch_id != common_batch) {
      all_same_batch = false;
    }
    if (!problems.empty()) {
      ++out.rejected;
      if (out.errors.size() < k_push_max_errors) {
        out.errors.push_back("row " + std::to_string(i) + ": " + problems);
      }
      continue;
    }
    r.list_version = list.version();
    r.received_at = now;
    ++out.accepted;
    std::size_t at = seen.find_or_add(r, out.rows.size());
    if (at == out.rows.size()) {
      out.rows.push_back(std::move(r));
    } else {
      out.rows[at] = std::move(r);  // the last occurrence wins, in its first place
    }
  }
  if (out.rejected > k_push_max_errors) {
    out.errors.push_back("... and " + std::to_string(out.rejected - k_push_max_errors) + " more");
  }
  if (all_same_batch) out.batch_id = std::move(common_batch);
  return out;
}

std::string push_response_json(const push_outcome& o) {
  rapidjson::StringBuffer buf;
  json_writer w(buf);
  w.StartObject();
  w.Key("accepted");
  w.Uint64(o.accepted);
  w.Key("rejected");
  w.Uint64(o.rejected);
  w.Key("errors");
  w.StartArray();
  for (const auto& e : o.errors)
    write_string(w, e);
  w.EndArray();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

}  // namespace referrald::domain
