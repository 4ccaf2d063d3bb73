#include "domain/ai/ai_referrals.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <array>
#include <functional>

#include "domain/base/clock.hpp"
#include "domain/base/json.hpp"
#include "domain/base/text.hpp"
#include "domain/web/host.hpp"
#include "domain/web/url.hpp"

namespace referrald::domain {

namespace {

constexpr std::string_view k_fields[] = {
    "date",     "raw_referrer_value", "raw_page_value",   "pageviews",
    "sessions", "transactions",       "purchase_revenue", "batch_id"};

std::string_view str(const rapidjson::Value& v) { return {v.GetString(), v.GetStringLength()}; }

// Collects one row's problems into a single message.
struct row_check {
  std::string problems;
  void fail(std::string_view field, const std::string& why) {
    if (!problems.empty()) problems += "; ";
    problems += field;
    problems += ' ';
    problems += why;
  }
};

// The row's members by field (k_fields order); null where absent.
using row_fields = std::array<const rapidjson::Value*, std::size(k_fields)>;

// A required string of [min, max] code points after trimming.
std::optional<std::string_view> text_field(const rapidjson::Value* v, const char* name,
                                           std::size_t max, row_check& check) {
  if (v == nullptr) {
    check.fail(name, "is required");
    return std::nullopt;
  }
  if (!v->IsString()) {
    check.fail(name, "must be a string, not " + json_type_name(*v));
    return std::nullopt;
  }
  std::string_view s = trim(str(*v));
  std::size_t len = utf8_length(s);
  if (len == 0) {
    check.fail(name, "must not be empty");
    return std::nullopt;
  }
  if (len > max) {
    check.fail(name, "must be at most " + std::to_string(max) + " characters long");
    return std::nullopt;
  }
  if (auto bad = forbidden_character(s); !bad.empty()) {
    check.fail(name, "must not contain " + bad);
    return std::nullopt;
  }
  return s;
}

// An optional non-negative integer metric (absent and null are the same).
std::optional<std::int64_t> count_field(const rapidjson::Value* v, const char* name,
                                        row_check& check) {
  if (v == nullptr || v->IsNull()) return std::nullopt;
  auto n = integral_value(*v);
  if (!n || *n < 0) {
    check.fail(name, v->IsNumber()
                         ? "must be a whole number >= 0 or null"
                         : std::string("must be an integer or null, not ") + json_type_name(*v));
    return std::nullopt;
  }
  return *n;
}

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

result<push_outcome> validate_push(const rapidjson::Value& body, const ai_platform_list& list) {
  if (!body.IsArray()) {
    return field_invalid("body",
                         std::string("must be a JSON array of rows, not ") + json_type_name(body));
  }
  std::size_t n = body.Size();
  if (n == 0) return field_invalid("body", "must hold at least one row");
  if (n > k_push_max_rows) {
    return field_invalid("body", "must hold at most 10000 rows, not " + std::to_string(n));
  }
  push_outcome out;
  out.rows.reserve(n);
  // The last occurrence of an identity wins, in the place of the first.
  identity_table seen(out.rows, n);
  std::optional<std::string> common_batch;
  bool all_same_batch = true;
  for (rapidjson::SizeType i = 0; i < n; ++i) {
    const rapidjson::Value& row = body[i];
    row_check check;
    ai_row r;
    std::optional<std::string> batch;
    if (!row.IsObject()) {
      check.fail("row", std::string("must be an object, not ") + json_type_name(row));
    } else {
      row_fields f{};
      for (auto m = row.MemberBegin(); m != row.MemberEnd(); ++m) {
        std::string_view key = str(m->name);
        auto known = std::find(std::begin(k_fields), std::end(k_fields), key);
        if (known == std::end(k_fields)) {
          check.fail(key, "is not a known field");
        } else if (auto& slot = f[static_cast<std::size_t>(known - std::begin(k_fields))]) {
          check.fail(key, "is given more than once");
        } else {
          slot = &m->value;
        }
      }
      if (const rapidjson::Value* date = f[0]; date == nullptr) {
        check.fail("date", "is required");
      } else if (!date->IsString()) {
        check.fail("date", "must be a string, not " + json_type_name(*date));
      } else if (auto d = parse_date(str(*date)); !d) {
        check.fail("date", "must be a real calendar date in the form YYYY-MM-DD");
      } else {
        r.date = *d;
      }
      if (auto ref = text_field(f[1], "raw_referrer_value", 512, check)) {
        r.raw_referrer = std::string(*ref);
        auto host = normalize_host(*ref, idna_mode::browser);
        const ai_platform* platform =
            list.lookup(*ref, host ? std::string_view(*host) : std::string_view());
        if (platform == nullptr) {
          check.fail("raw_referrer_value", "'" + std::string(*ref) +
                                               "' is not on the AI platform allow-list (version " +
                                               list.version() + ")");
        } else {
          r.platform = platform->id;
          r.referrer = host ? std::move(*host) : to_lower_ascii(*ref);
        }
      }
      if (auto page = text_field(f[2], "raw_page_value", 2048, check)) {
        r.raw_page = std::string(*page);
        r.page = normalize_page(*page);
      }
      r.pageviews = count_field(f[3], "pageviews", check);
      r.sessions = count_field(f[4], "sessions", check);
      r.transactions = count_field(f[5], "transactions", check);
      if (const rapidjson::Value* rev = f[6]; rev != nullptr && !rev->IsNull()) {
        if (!rev->IsNumber() || rev->GetDouble() < 0) {
          check.fail("purchase_revenue",
                     rev->IsNumber() ? "must be a number >= 0 or null"
                                     : "must be a number or null, not " + json_type_name(*rev));
        } else {
          r.purchase_revenue = rev->GetDouble();
        }
      }
      if (const rapidjson::Value* b = f[7]; b != nullptr && !b->IsNull()) {
        if (!b->IsString()) {
          check.fail("batch_id", "must be a string or null, not " + json_type_name(*b));
        } else {
          std::string_view id = trim(str(*b));
          if (utf8_length(id) > 128) {
            check.fail("batch_id", "must be at most 128 characters long");
          } else if (auto bad = forbidden_character(id); !bad.empty()) {
            check.fail("batch_id", "must not contain " + bad);
          } else if (!id.empty()) {
            batch = std::string(id);
          }
        }
      }
    }
    // The push's batch id: the same non-empty value on every row.
    if (i == 0) {
      common_batch = batch;
    } else if (batch != common_batch) {
      all_same_batch = false;
    }
    if (!check.problems.empty()) {
      ++out.rejected;
      if (out.errors.size() < k_push_max_errors) {
        out.errors.push_back("row " + std::to_string(i) + ": " + check.problems);
      }
      continue;
    }
    r.batch_id = std::move(batch);
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
