#include "domain/ai_referrals.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <unordered_map>

#include "domain/clock.hpp"
#include "domain/host.hpp"
#include "domain/json.hpp"
#include "domain/text.hpp"
#include "domain/url.hpp"

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

// A required string of [min, max] code points after trimming.
std::optional<std::string_view> text_field(const rapidjson::Value& row, const char* name,
                                           std::size_t max, row_check& check) {
  auto it = row.FindMember(name);
  if (it == row.MemberEnd()) {
    check.fail(name, "is required");
    return std::nullopt;
  }
  if (!it->value.IsString()) {
    check.fail(name, "must be a string, not " + json_type_name(it->value));
    return std::nullopt;
  }
  std::string_view s = trim(str(it->value));
  std::size_t len = utf8_length(s);
  if (len == 0) {
    check.fail(name, "must not be empty");
    return std::nullopt;
  }
  if (len > max) {
    check.fail(name, "must be at most " + std::to_string(max) + " characters long");
    return std::nullopt;
  }
  if (s.find('\0') != std::string_view::npos) {
    check.fail(name, "must not contain NUL characters");
    return std::nullopt;
  }
  return s;
}

// An optional non-negative integer metric (absent and null are the same).
std::optional<std::int64_t> count_field(const rapidjson::Value& row, const char* name,
                                        row_check& check) {
  auto it = row.FindMember(name);
  if (it == row.MemberEnd() || it->value.IsNull()) return std::nullopt;
  if (!it->value.IsInt64() || it->value.GetInt64() < 0) {
    check.fail(name, it->value.IsNumber() ? "must be a whole number >= 0 or null"
                                          : std::string("must be an integer or null, not ") +
                                                json_type_name(it->value));
    return std::nullopt;
  }
  return it->value.GetInt64();
}

}  // namespace

std::string normalize_page(std::string_view raw) {
  std::string_view v = trim(raw);
  url_parts u = split_url(v);
  if (!u.scheme.empty() && !u.authority.empty()) {
    return u.path.empty() ? std::string("/") : std::string(u.path);
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
  // Identity (date, referrer, page) -> index in out.rows: the last occurrence wins.
  std::unordered_map<std::string, std::size_t> seen;
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
      for (auto m = row.MemberBegin(); m != row.MemberEnd(); ++m) {
        std::string_view key = str(m->name);
        if (std::find(std::begin(k_fields), std::end(k_fields), key) == std::end(k_fields)) {
          check.fail(key, "is not a known field");
          continue;
        }
        for (auto prev = row.MemberBegin(); prev != m; ++prev) {
          if (str(prev->name) == key) {
            check.fail(key, "is given more than once");
            break;
          }
        }
      }
      auto date = row.FindMember("date");
      if (date == row.MemberEnd()) {
        check.fail("date", "is required");
      } else if (!date->value.IsString()) {
        check.fail("date", "must be a string, not " + json_type_name(date->value));
      } else if (auto d = parse_date(str(date->value)); !d) {
        check.fail("date", "must be a real calendar date in the form YYYY-MM-DD");
      } else {
        r.date = *d;
      }
      if (auto ref = text_field(row, "raw_referrer_value", 512, check)) {
        r.raw_referrer = std::string(*ref);
        auto host = normalize_host(*ref);
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
      if (auto page = text_field(row, "raw_page_value", 2048, check)) {
        r.raw_page = std::string(*page);
        r.page = normalize_page(*page);
      }
      r.pageviews = count_field(row, "pageviews", check);
      r.sessions = count_field(row, "sessions", check);
      r.transactions = count_field(row, "transactions", check);
      if (auto rev = row.FindMember("purchase_revenue");
          rev != row.MemberEnd() && !rev->value.IsNull()) {
        if (!rev->value.IsNumber() || rev->value.GetDouble() < 0) {
          check.fail("purchase_revenue", rev->value.IsNumber()
                                             ? "must be a number >= 0 or null"
                                             : std::string("must be a number or null, not ") +
                                                   json_type_name(rev->value));
        } else {
          r.purchase_revenue = rev->value.GetDouble();
        }
      }
      if (auto b = row.FindMember("batch_id"); b != row.MemberEnd() && !b->value.IsNull()) {
        if (!b->value.IsString()) {
          check.fail("batch_id",
                     std::string("must be a string or null, not ") + json_type_name(b->value));
        } else {
          std::string_view id = trim(str(b->value));
          if (utf8_length(id) > 128) {
            check.fail("batch_id", "must be at most 128 characters long");
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
    std::string identity = std::to_string(r.date);
    identity.push_back('\0');
    identity += r.referrer;
    identity.push_back('\0');
    identity += r.page;
    auto [it, inserted] = seen.emplace(std::move(identity), out.rows.size());
    if (inserted) {
      out.rows.push_back(std::move(r));
    } else {
      out.rows[it->second] = std::move(r);  // the last occurrence wins, in its first place
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
