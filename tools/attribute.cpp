#include "tools/attribute.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "domain/attribution/block_pipeline.hpp"
#include "domain/attribution/resolver.hpp"
#include "domain/base/clock.hpp"
#include "domain/base/csv.hpp"
#include "domain/base/json.hpp"
#include "domain/base/json_scan.hpp"
#include "domain/base/text.hpp"

namespace referrald::tools {

namespace {

// The names a resolution adds to a record: an input field or column of the same name is
// left out of the output (a log attributed again gets the new answer, once).
constexpr std::string_view k_added[] = {"explain", "error"};

bool named(std::span<const std::string_view> names, std::string_view key) {
  return std::find(names.begin(), names.end(), key) != names.end() ||
         std::find(std::begin(k_added), std::end(k_added), key) != std::end(k_added);
}
bool json_named(std::string_view key) { return named(domain::json_members(), key); }
bool csv_named(std::string_view key) { return named(domain::csv_columns(), key); }

std::string_view trim_end(std::string_view s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

bool blank(std::string_view s) { return s.find_first_not_of(" \t\r") == std::string_view::npos; }

// {"line":N,"field":F|null,"message":M}
void append_error_object(std::string& out, std::uint64_t line, std::string_view field,
                         std::string_view message) {
  out += "{\"line\":";
  out += std::to_string(line);
  out += ",\"field\":";
  if (field.empty()) {
    out += "null";
  } else {
    domain::append_json_string(out, field);
  }
  out += ",\"message\":";
  domain::append_json_string(out, message);
  out += '}';
}

// The field and message of an error's first problem.
std::pair<std::string, std::string> first_problem(const domain::error& e) {
  if (!e.details.empty()) return {e.details.front().field, e.details.front().message};
  return {{}, e.message};
}

// A visit's time from a field's text: RFC 3339, or epoch milliseconds (digits).
std::optional<domain::unix_ms> time_of_text(std::string_view s) {
  if (!s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos) {
    domain::unix_ms t = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), t);
    if (ec == std::errc() && end == s.data() + s.size()) return t;
    return std::nullopt;
  }
  return domain::parse_rfc3339(s);
}

constexpr const char* k_time_message =
    "must be an RFC 3339 time (2026-11-22T10:00:00Z) or epoch milliseconds (0 or more)";

class worker_context {
 public:
  worker_context(const snapshots::rule_timeline& rules, const attribute_options& o,
                 const std::vector<std::string>* header)
      : rules_(rules),
        o_(o),
        pool_(buffer_.data(), buffer_.size()),
        columns_in_(header != nullptr ? std::span<const std::string>(*header)
                                      : std::span<const std::string>()) {
    if (header != nullptr) index_header(*header);
  }

  void run(domain::block& c) {
    c.out.clear();
    // Records grow about threefold (more with explain); a chunk's buffer is kept for the next.
    c.out.reserve(c.in.size() * (o_.explain ? 16 : 4) + 4096);
    if (c.too_long) {
      ++c.records;
      ++c.errors;
      std::string message = "the record is longer than " +
                            std::to_string(domain::block_reader::max_record >> 20) +
                            " MiB; it was skipped";
      if (o_.format == log_format::ndjson) {
        c.out += "{\"error\":";
        append_error_object(c.out, c.first_line, {}, message);
        c.out += "}\n";
      } else {
        auto kept = static_cast<std::size_t>(std::count(keep_.begin(), keep_.end(), true));
        c.out.append(kept > 0 ? kept - 1 : 0, ',');
        csv_error_tail(c.out, c.first_line, {}, message);
      }
      return;
    }
    if (o_.format == log_format::ndjson) {
      ndjson(c);
    } else {
      csv(c);
    }
  }

 private:
  // -- NDJSON ---------------------------------------------------------------------------

  void ndjson(domain::block& c) {
    std::string_view text = c.in;
    std::uint64_t line = c.first_line;
    while (!text.empty()) {
      auto nl = text.find('\n');
      std::string_view rec = text.substr(0, nl);
      text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
      if (!blank(rec)) {
        ++c.records;
        if (!json_record(c.out, rec, line)) ++c.errors;
      }
      ++line;
    }
  }

  // One line; false when it made an error record.
  bool json_record(std::string& out, std::string_view rec, std::uint64_t line) {
    if (json_record_read_simply(out, rec)) return true;
    doc_.SetNull();
    pool_.Clear();
    if (auto st = domain::parse_json(rec, doc_, "line"); !st) {
      out += "{\"error\":";
      append_error_object(out, line, {}, st.err().message);
      out += "}\n";
      return false;
    }
    if (!doc_.IsObject()) {
      out += "{\"error\":";
      append_error_object(
          out, line, {},
          "the line must be a JSON object (a visit), not " + domain::json_type_name(doc_));
      out += "}\n";
      return false;
    }
    // The record's own fields, as written, less those the resolution sets.
    bool clash = false;
    for (auto m = doc_.MemberBegin(); m != doc_.MemberEnd() && !clash; ++m)
      clash = json_named({m->name.GetString(), m->name.GetStringLength()});
    if (!clash) {
      append_own_members(out, rec);
    } else {
      rapidjson::StringBuffer buf;
      domain::json_writer w(buf);
      w.StartObject();
      for (auto m = doc_.MemberBegin(); m != doc_.MemberEnd(); ++m) {
        std::string_view key(m->name.GetString(), m->name.GetStringLength());
        if (json_named(key)) continue;
        domain::write_key(w, key);
        m->value.Accept(w);
      }
      w.EndObject();
      out.append(buf.GetString(), buf.GetSize() - 1);
    }
    bool members = doc_.MemberCount() > 0;
    auto then = [&] {
      if (members) out += ',';
    };
    auto v = domain::parse_visit(doc_, std::nullopt, true);
    if (!v) {
      auto [field, message] = first_problem(v.err());
      then();
      out += "\"error\":";
      append_error_object(out, line, field, message);
      out += "}\n";
      return false;
    }
    const domain::account_state* state = &rules_.last();
    if (!o_.time_field.empty()) {
      auto t = json_time();
      if (!t) {
        then();
        out += "\"error\":";
        append_error_object(
            out, line, o_.time_field,
            doc_.HasMember(o_.time_field.c_str()) ? k_time_message : "is required (--time-field)");
        out += "}\n";
        return false;
      }
      state = &rules_.at(*t);
    }
    resolution_json(out, members, *state, *v);
    out += '\n';
    return true;
  }

  // A JSON object line's own members as written: from its '{' up to its closing brace,
  // which is left out (the resolution's members follow).
  static void append_own_members(std::string& out, std::string_view rec) {
    rec = trim_end(rec);
    auto open = rec.find('{');
    out.append(rec.substr(open, rec.size() - 1 - open));
  }

  // The common line (json_scan.hpp), without a document: true when it is a visit that
  // needs nothing else, and its record was written; false, with nothing written, for the
  // document to say what the line is.
  bool json_record_read_simply(std::string& out, std::string_view rec) {
    if (!domain::scan_object(rec, members_)) return false;
    // A member named as the resolution's (it would be dropped from the record) or the
    // time field twice is the document's to sort out.
    const domain::json_member* time = nullptr;
    for (const auto& m : members_) {
      if (m.key_escaped || json_named(m.key)) return false;
      if (!o_.time_field.empty() && m.key == o_.time_field) {
        if (time != nullptr) return false;
        time = &m;
      }
    }
    auto plain_string = [](const domain::json_member* m) {
      return m->kind == domain::json_kind::string && !m->value_escaped;
    };
    const domain::account_state* state = &rules_.last();
    if (!o_.time_field.empty()) {
      if (time == nullptr) return false;
      std::optional<domain::unix_ms> t;
      if (plain_string(time)) {
        t = time_of_text(time->value);
      } else if (time->kind == domain::json_kind::number) {
        t = time_of_text(time->value);  // epoch milliseconds: digits, as in a string
      }
      if (!t) return false;
      state = &rules_.at(*t);
    }
    if (!domain::read_visit_members(members_, true, session_members_, visit_)) return false;
    append_own_members(out, rec);
    resolution_json(out, !members_.empty(), *state, visit_);
    out += '\n';
    return true;
  }

  std::optional<domain::unix_ms> json_time() const {
    auto m = doc_.FindMember(rapidjson::StringRef(o_.time_field.data(), o_.time_field.size()));
    if (m == doc_.MemberEnd()) return std::nullopt;
    if (m->value.IsString())
      return time_of_text({m->value.GetString(), m->value.GetStringLength()});
    if (m->value.IsNumber()) {
      // Epoch milliseconds, as a string's digits are read: never before 1970.
      auto n = domain::integral_value(m->value);
      if (n && *n >= 0) return n;
    }
    return std::nullopt;
  }

  // The resolution's members and the closing brace, after the record's own members
  // (`members`) or its opening brace alone.
  void resolution_json(std::string& out, bool members, const domain::account_state& s,
                       const domain::visit& v) {
    std::size_t open = out.size();
    if (!o_.explain) {
      domain::append_json(out, domain::resolve(s, v));
    } else {
      rapidjson::StringBuffer steps;
      domain::json_writer sw(steps);
      auto r = domain::resolve(s, v, &sw);
      domain::append_json(out, r, {steps.GetString(), steps.GetSize()});
    }
    // The resolution's '{' becomes the comma after the record's members, or goes.
    if (members) {
      out[open] = ',';
    } else {
      out.erase(open, 1);
    }
  }

  // -- CSV ------------------------------------------------------------------------------

  void index_header(const std::vector<std::string>& header) {
    columns_ = header.size();
    keep_.assign(header.size(), true);
    for (std::size_t i = 0; i < header.size(); ++i) {
      const std::string& h = header[i];
      if (!o_.time_field.empty() && h == o_.time_field) time_col_ = i;
      if (csv_named(h)) {
        keep_[i] = false;
        all_kept_ = false;
      }
    }
  }

  void csv(domain::block& c) {
    std::string_view text = c.in;
    std::uint64_t line = c.first_line;
    for (std::size_t pos = 0; pos < text.size();) {
      auto r = domain::read_csv_record(text, pos, fields_);
      fields_used_ = r.fields;
      if (!r.blank || !r.problem.empty()) {
        std::string_view raw = text.substr(pos, r.end - pos);
        while (!raw.empty() && (raw.back() == '\n' || raw.back() == '\r'))
          raw.remove_suffix(1);
        ++c.records;
        if (!csv_record(c.out, raw, line, r.problem)) ++c.errors;
      }
      line += r.lines;
      pos = r.end;
    }
  }

  std::string_view column(std::size_t i) const {
    return i < fields_used_ ? std::string_view(fields_[i]) : std::string_view();
  }

  // The record's own columns as written (less those the resolution sets); with `as_read`,
  // one per header column from the fields read.
  void own_columns(std::string& out, std::string_view raw, bool as_read) {
    if (all_kept_ && !as_read) {
      out.append(raw);
      return;
    }
    bool first = true;
    for (std::size_t i = 0; i < columns_; ++i) {
      if (!keep_[i]) continue;
      if (!first) out += ',';
      first = false;
      domain::append_csv_field(out, column(i));
    }
  }

  // One record; false when it made an error record.
  bool csv_record(std::string& out, std::string_view raw, std::uint64_t line,
                  const std::string& problem) {
    // A record whose fields do not fit the header, or one of whose values a spreadsheet
    // would run as a formula, is written field by field (padded; neutralized).
    bool formula = false;
    for (std::size_t i = 0; i < fields_used_ && !formula; ++i)
      formula = domain::csv_field_needs_guard(fields_[i]);
    own_columns(out, raw, !problem.empty() || fields_used_ != columns_ || formula);
    auto fail = [&](std::string_view field, std::string_view message) {
      csv_error_tail(out, line, field, message);
      return false;
    };
    if (!problem.empty()) return fail({}, "not a CSV record: " + problem);
    if (fields_used_ != columns_) {
      return fail({}, "has " + std::to_string(fields_used_) + " fields where the header has " +
                          std::to_string(columns_));
    }
    std::string at_fault, message;
    if (!columns_in_.read(std::span(fields_).first(fields_used_), visit_, at_fault, message)) {
      return fail(at_fault, message);
    }
    const domain::account_state* state = &rules_.last();
    if (!o_.time_field.empty()) {
      auto t = time_of_text(time_col_ ? column(*time_col_) : std::string_view());
      if (!t) {
        return fail(o_.time_field, time_col_ && !column(*time_col_).empty()
                                       ? k_time_message
                                       : "is required (--time-field)");
      }
      state = &rules_.at(*t);
    }
    resolution_csv(out, *state, visit_);
    return true;
  }

  // The resolution's columns of a record that is not a visit: empty, and the error.
  void csv_error_tail(std::string& out, std::uint64_t line, std::string_view field,
                      std::string_view message) {
    std::string e;
    append_error_object(e, line, field, message);
    out.append(domain::csv_columns().size() + (o_.explain ? 1 : 0), ',');
    out += ',';
    domain::append_csv_field(out, e);
    out += "\r\n";
  }

  void resolution_csv(std::string& out, const domain::account_state& s, const domain::visit& v) {
    rapidjson::StringBuffer steps;
    domain::json_writer sw(steps);
    auto r = domain::resolve(s, v, o_.explain ? &sw : nullptr);
    auto col = [&](std::string_view value) {
      out += ',';
      domain::append_csv_field(out, value);
    };
    domain::append_csv_columns(out, r);
    if (o_.explain) col({steps.GetString(), steps.GetSize()});
    col({});  // error
    out += "\r\n";
  }

 public:
  // The output's header: the input's (less the resolution's names) and the resolution's.
  static std::string csv_header(const std::vector<std::string>& header, bool explain) {
    std::string out;
    bool first = true;
    for (const auto& h : header) {
      if (csv_named(h)) continue;
      if (!first) out += ',';
      first = false;
      domain::append_csv_field(out, h);
    }
    auto column = [&](std::string_view name) {
      if (!first) out += ',';
      first = false;
      out += name;
    };
    for (auto name : domain::csv_columns())
      column(name);
    if (explain) column("explain");
    column("error");
    out += "\r\n";
    return out;
  }

 private:
  const snapshots::rule_timeline& rules_;
  const attribute_options& o_;
  std::array<char, 64 * 1024> buffer_;
  rapidjson::MemoryPoolAllocator<> pool_;
  rapidjson::Document doc_{&pool_};
  std::vector<domain::json_member> members_, session_members_;
  domain::visit visit_;
  // CSV
  std::size_t columns_ = 0;
  std::vector<bool> keep_;
  bool all_kept_ = true;
  domain::visit_columns columns_in_;
  std::optional<std::size_t> time_col_;
  std::vector<std::string> fields_;
  std::size_t fields_used_ = 0;
};

std::string with_commas(std::uint64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3)
    s.insert(static_cast<std::size_t>(i), ",");
  return s;
}

}  // namespace

domain::result<attribute_summary> attribute(const snapshots::rule_timeline& rules,
                                            const attribute_options& o) {
  auto started = std::chrono::steady_clock::now();
  domain::block_reader reader(o.in, o.format == log_format::csv ? domain::record_syntax::csv
                                                                : domain::record_syntax::lines);
  std::vector<std::string> header;
  if (o.format != log_format::csv) reader.skip_bom();
  if (o.format == log_format::csv) {
    std::string problem;
    if (!reader.header(header, problem)) {
      return domain::make_error(domain::errc::validation_failed,
                                problem.empty() ? "the CSV input has no header row"
                                                : "the CSV header cannot be read: " + problem);
    }
    if (!domain::visit_columns(header).complete()) {
      return domain::make_error(domain::errc::validation_failed,
                                "the CSV header has no landing_url column");
    }
    auto h = worker_context::csv_header(header, o.explain);
    if (std::fwrite(h.data(), 1, h.size(), o.out) != h.size()) {
      return domain::make_error(domain::errc::internal,
                                std::string("cannot write to ") + o.out_name);
    }
  }
  unsigned threads = o.threads != 0 ? o.threads : std::max(1u, std::thread::hardware_concurrency());
  auto last_progress = started;
  auto totals = domain::run_blocks(
      reader, o.out, threads,
      [&]() -> domain::block_worker {
        auto ctx = std::make_shared<worker_context>(
            rules, o, o.format == log_format::csv ? &header : nullptr);
        return [ctx](domain::block& b) {
          ctx->run(b);
        };
      },
      [&](const domain::pipeline_totals& sum) {
        auto now = std::chrono::steady_clock::now();
        if (o.quiet || now - last_progress < std::chrono::seconds(2)) return;
        last_progress = now;
        double s = std::chrono::duration<double>(now - started).count();
        std::fprintf(
            stderr, "referralctl attribute: %s visits, %s/s, %s errors\n",
            with_commas(sum.records).c_str(),
            with_commas(static_cast<std::uint64_t>(static_cast<double>(sum.records) / s)).c_str(),
            with_commas(sum.errors).c_str());
      });
  if (totals.write_failed) {
    return domain::make_error(domain::errc::internal, std::string("cannot write to ") + o.out_name);
  }
  if (totals.read_failed) {
    return domain::make_error(domain::errc::internal, "cannot read the input");
  }
  attribute_summary sum;
  sum.records = totals.records;
  sum.errors = totals.errors;
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return sum;
}

}  // namespace referrald::tools
