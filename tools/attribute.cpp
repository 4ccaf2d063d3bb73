#include "tools/attribute.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "domain/attribution/resolver.hpp"
#include "domain/attribution/visit_scan.hpp"
#include "domain/base/clock.hpp"
#include "domain/base/csv.hpp"
#include "domain/base/json.hpp"
#include "domain/base/json_scan.hpp"
#include "domain/base/text.hpp"

namespace referrald::tools {

namespace {

constexpr std::size_t k_block = 1 << 20;        // input read per chunk
constexpr std::size_t k_max_record = 4u << 20;  // a longer record is an error record
constexpr std::string_view k_utm_names[] = {"utm_source", "utm_medium", "utm_campaign", "utm_term",
                                            "utm_content"};

// The names a resolution adds to a record: an input field or column of the same name is
// left out of the output (a log attributed again gets the new answer, once).
constexpr std::string_view k_json_names[] = {
    "utm_source",   "utm_medium",    "utm_campaign", "utm_term",       "utm_content", "reason",
    "rule",         "referrer_host", "ai_platform",  "known_referrer", "click_id",    "channel",
    "channel_rule", "warnings",      "explain",      "error"};
constexpr std::string_view k_csv_names[] = {
    "utm_source", "utm_medium",      "utm_campaign",  "utm_term",    "utm_content",    "reason",
    "rule_type",  "rule_id",         "referrer_host", "ai_platform", "known_referrer", "click_id",
    "channel",    "channel_rule_id", "warnings",      "explain",     "error"};

template <std::size_t N>
bool named(const std::string_view (&names)[N], std::string_view key) {
  return std::find(std::begin(names), std::end(names), key) != std::end(names);
}

std::string_view trim_end(std::string_view s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

bool blank(std::string_view s) { return s.find_first_not_of(" \t\r") == std::string_view::npos; }

// A block of whole records and what resolving it made.
struct chunk {
  std::string in;
  std::uint64_t first_line = 1;  // the line number of in's first byte
  bool too_long = false;         // `in` is empty: the record at first_line was cut
  std::string out;
  std::uint64_t records = 0;
  std::uint64_t errors = 0;
  bool done = false;
};

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
      : rules_(rules), o_(o), pool_(buffer_.data(), buffer_.size()) {
    if (header != nullptr) index_header(*header);
  }

  void run(chunk& c) {
    c.out.clear();
    // Records grow about threefold (more with explain); a chunk's buffer is kept for the next.
    c.out.reserve(c.in.size() * (o_.explain ? 16 : 4) + 4096);
    if (c.too_long) {
      ++c.records;
      ++c.errors;
      std::string message = "the record is longer than " + std::to_string(k_max_record >> 20) +
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

  void ndjson(chunk& c) {
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
      clash = named(k_json_names, {m->name.GetString(), m->name.GetStringLength()});
    if (!clash) {
      append_own_members(out, rec);
    } else {
      rapidjson::StringBuffer buf;
      domain::json_writer w(buf);
      w.StartObject();
      for (auto m = doc_.MemberBegin(); m != doc_.MemberEnd(); ++m) {
        std::string_view key(m->name.GetString(), m->name.GetStringLength());
        if (named(k_json_names, key)) continue;
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
      if (m.key_escaped || named(k_json_names, m.key)) return false;
      if (!o_.time_field.empty() && m.key == o_.time_field) {
        if (time != nullptr) return false;
        time = &m;
      }
    }
    domain::visit_members found;
    if (!domain::find_visit_members(members_, true, found)) return false;
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
    if (!domain::read_visit_members(found, session_members_, visit_)) return false;
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
      rapidjson::StringBuffer buf;
      domain::json_writer w(buf);
      domain::write_json(w, r, true);
      w.Key("explain");
      w.RawValue(steps.GetString(), steps.GetSize(), rapidjson::kArrayType);
      w.EndObject();
      out.append(buf.GetString(), buf.GetSize());
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
      if (h == "referrer") referrer_col_ = i;
      if (h == "landing_url") landing_col_ = i;
      for (std::size_t u = 0; u < std::size(k_utm_names); ++u) {
        if (h == "session_" + std::string(k_utm_names[u])) session_cols_[u] = i;
      }
      if (!o_.time_field.empty() && h == o_.time_field) time_col_ = i;
      if (named(k_csv_names, h)) {
        keep_[i] = false;
        all_kept_ = false;
      }
    }
  }

  void csv(chunk& c) {
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
    doc_.SetNull();
    pool_.Clear();
    doc_.SetObject();
    auto& a = doc_.GetAllocator();
    if (referrer_col_) {
      auto r = column(*referrer_col_);
      doc_.AddMember("referrer", rapidjson::StringRef(r.data(), r.size()), a);
    }
    auto l = column(*landing_col_);
    doc_.AddMember("landing_url", rapidjson::StringRef(l.data(), l.size()), a);
    rapidjson::Value session(rapidjson::kObjectType);
    for (std::size_t u = 0; u < std::size(k_utm_names); ++u) {
      if (!session_cols_[u]) continue;
      auto s = column(*session_cols_[u]);
      if (s.empty()) continue;
      session.AddMember(rapidjson::StringRef(k_utm_names[u].data(), k_utm_names[u].size()),
                        rapidjson::StringRef(s.data(), s.size()), a);
    }
    if (session.MemberCount() > 0) doc_.AddMember("session", session, a);
    auto v = domain::parse_visit(doc_);
    if (!v) {
      auto [field, message] = first_problem(v.err());
      if (field.starts_with("session.")) field = "session_" + field.substr(8);
      return fail(field, message);
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
    resolution_csv(out, *state, *v);
    return true;
  }

  // The resolution's columns of a record that is not a visit: empty, and the error.
  void csv_error_tail(std::string& out, std::uint64_t line, std::string_view field,
                      std::string_view message) {
    std::string e;
    append_error_object(e, line, field, message);
    out.append(o_.explain ? 16 : 15, ',');
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
    col(r.utms.source);
    col(r.utms.medium);
    col(r.utms.campaign);
    col(r.utms.term);
    col(r.utms.content);
    col(r.reason);
    col(r.rule_type);
    col(r.rule_type.empty() ? std::string() : std::to_string(r.rule_id));
    col(r.referrer_host);
    col(r.ai != nullptr ? std::string_view(r.ai->id) : std::string_view());
    col(r.known != nullptr ? std::string_view(r.known->source) : std::string_view());
    col(r.click != nullptr ? std::string_view(r.click->name) : std::string_view());
    col(r.channel);
    col(r.channel_rule != nullptr ? std::to_string(r.channel_rule->id) : std::string());
    if (r.warnings.empty()) {
      col({});
    } else {
      std::string w = "[";
      for (std::size_t i = 0; i < r.warnings.size(); ++i) {
        if (i > 0) w += ',';
        domain::append_json_string(w, r.warnings[i]);
      }
      w += ']';
      col(w);
    }
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
      if (named(k_csv_names, h)) continue;
      if (!first) out += ',';
      first = false;
      domain::append_csv_field(out, h);
    }
    for (auto name : k_csv_names) {
      if (name == "explain" && !explain) continue;
      if (!first) out += ',';
      first = false;
      out += name;
    }
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
  std::optional<std::size_t> referrer_col_, landing_col_, time_col_;
  std::array<std::optional<std::size_t>, 5> session_cols_{};
  std::vector<std::string> fields_;
  std::size_t fields_used_ = 0;
};

// Reads the input in blocks of whole records (a CSV record may span lines inside quotes).
class record_reader {
 public:
  record_reader(std::FILE* in, log_format format) : in_(in), csv_(format == log_format::csv) {}

  // The next chunk; false at the end of the input (or an error, in error()).
  bool next(chunk& c) {
    c.in.clear();
    c.too_long = false;
    c.first_line = line_;
    for (;;) {
      auto cut = boundary();
      if (cut != std::string::npos && (carry_.size() >= k_block || eof_)) {
        take(c, cut);
        return true;
      }
      if (eof_) {
        if (carry_.empty()) return false;
        take(c, carry_.size());
        return true;
      }
      if (carry_.size() > k_max_record && cut == std::string::npos) return skip_long(c);
      fill();
      if (error_) return false;
    }
  }

  bool error() const { return error_; }

  // Skips a byte order mark at the start of the input (an NDJSON log's; a line after the
  // first that starts with one is not JSON).
  void skip_bom() {
    while (carry_.size() < 3 && !eof_ && !error_)
      fill();
    if (carry_.starts_with("\xEF\xBB\xBF")) carry_.erase(0, 3);
  }

  // The first record (a CSV header), decoded; false when there is none.
  bool header(std::vector<std::string>& fields, std::string& problem) {
    // The end of the first record: its first line break outside quotes.
    std::size_t cut = std::string::npos;
    bool quoted = false;
    for (std::size_t i = 0; cut == std::string::npos;) {
      if (i == carry_.size()) {
        if (eof_ || carry_.size() > k_max_record) break;
        fill();
        if (error_) return false;
        continue;
      }
      if (carry_[i] == '"') quoted = !quoted;
      if (carry_[i] == '\n' && !quoted) cut = i + 1;
      ++i;
    }
    if (cut == std::string::npos) cut = carry_.size();
    std::string_view rec(carry_.data(), cut);
    while (!rec.empty() && (rec.back() == '\n' || rec.back() == '\r'))
      rec.remove_suffix(1);
    if (rec.starts_with("\xEF\xBB\xBF")) rec.remove_prefix(3);
    if (rec.empty()) return false;
    auto parsed = domain::parse_csv(rec, 1);
    if (!parsed || parsed->empty()) {
      problem = parsed ? "it is empty" : parsed.err().message;
      return false;
    }
    fields = std::move(parsed->front());
    line_ += static_cast<std::uint64_t>(
        std::count(carry_.begin(), carry_.begin() + static_cast<long>(cut), '\n'));
    carry_.erase(0, cut);
    scanned_ = 0;
    quoted_ = false;
    last_boundary_ = std::string::npos;
    return true;
  }

 private:
  void fill() {
    std::size_t have = carry_.size();
    carry_.resize(have + k_block);
    std::size_t n = std::fread(carry_.data() + have, 1, k_block, in_);
    carry_.resize(have + n);
    if (n < k_block) {
      if (std::ferror(in_)) error_ = true;
      eof_ = true;
    }
  }

  // The end of the last whole record in carry_ (after its '\n'), or npos.
  std::size_t boundary() {
    if (!csv_) {
      auto nl = carry_.rfind('\n');
      return nl == std::string::npos ? nl : nl + 1;
    }
    // Quote-aware, scanning only what was not scanned before.
    for (std::size_t i = scanned_; i < carry_.size(); ++i) {
      char ch = carry_[i];
      if (ch == '"') {
        quoted_ = !quoted_;
      } else if (ch == '\n' && !quoted_) {
        last_boundary_ = i + 1;
      }
    }
    scanned_ = carry_.size();
    return last_boundary_;
  }

  void take(chunk& c, std::size_t cut) {
    // The block becomes the chunk's; only the partial record after it is copied back.
    c.in.swap(carry_);
    carry_.assign(c.in, cut, std::string::npos);
    c.in.resize(cut);
    line_ += static_cast<std::uint64_t>(std::count(c.in.begin(), c.in.end(), '\n'));
    scanned_ = 0;
    quoted_ = false;
    last_boundary_ = std::string::npos;
  }

  // A record longer than k_max_record: dropped up to the next line break.
  bool skip_long(chunk& c) {
    c.too_long = true;
    for (;;) {
      auto nl = carry_.find('\n');
      if (nl != std::string::npos) {
        carry_.erase(0, nl + 1);
        break;
      }
      carry_.clear();
      if (eof_) break;
      fill();
      if (error_) return false;
    }
    ++line_;
    scanned_ = 0;
    quoted_ = false;
    last_boundary_ = std::string::npos;
    return true;
  }

  std::FILE* in_;
  bool csv_;
  std::string carry_;
  std::uint64_t line_ = 1;
  bool eof_ = false;
  bool error_ = false;
  std::size_t scanned_ = 0;
  bool quoted_ = false;
  std::size_t last_boundary_ = std::string::npos;
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
  record_reader reader(o.in, o.format);
  std::vector<std::string> header;
  if (o.format != log_format::csv) reader.skip_bom();
  if (o.format == log_format::csv) {
    std::string problem;
    if (!reader.header(header, problem)) {
      return domain::make_error(domain::errc::validation_failed,
                                problem.empty() ? "the CSV input has no header row"
                                                : "the CSV header cannot be read: " + problem);
    }
    if (std::find(header.begin(), header.end(), "landing_url") == header.end()) {
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
  const std::size_t most_in_flight = 2 * threads + 2;

  std::mutex mu;
  std::condition_variable work_cv, done_cv;
  std::deque<chunk*> pending;                // for the workers
  std::deque<std::unique_ptr<chunk>> order;  // for the writer, in input order
  std::vector<std::unique_ptr<chunk>> spare;
  bool closing = false;
  std::vector<std::thread> pool;
  for (unsigned i = 0; i < threads; ++i) {
    pool.emplace_back([&] {
      worker_context ctx(rules, o, o.format == log_format::csv ? &header : nullptr);
      std::unique_lock lock(mu);
      for (;;) {
        work_cv.wait(lock, [&] { return closing || !pending.empty(); });
        if (pending.empty()) return;
        chunk* c = pending.front();
        pending.pop_front();
        lock.unlock();
        ctx.run(*c);
        lock.lock();
        c->done = true;
        done_cv.notify_all();
      }
    });
  }
  auto stop_pool = [&] {
    {
      std::lock_guard lock(mu);
      closing = true;
    }
    work_cv.notify_all();
    for (auto& t : pool)
      t.join();
  };

  attribute_summary sum;
  bool input_done = false;
  bool write_failed = false;
  auto last_progress = started;
  for (;;) {
    while (!input_done && order.size() < most_in_flight) {
      std::unique_ptr<chunk> c;
      if (!spare.empty()) {
        c = std::move(spare.back());
        spare.pop_back();
      } else {
        c = std::make_unique<chunk>();
      }
      c->done = false;
      c->records = c->errors = 0;
      if (!reader.next(*c)) {
        input_done = true;
        break;
      }
      std::lock_guard lock(mu);
      pending.push_back(c.get());
      order.push_back(std::move(c));
      work_cv.notify_one();
    }
    if (order.empty()) break;
    {
      std::unique_lock lock(mu);
      done_cv.wait(lock, [&] { return order.front()->done; });
    }
    auto c = std::move(order.front());
    order.pop_front();
    if (!write_failed && std::fwrite(c->out.data(), 1, c->out.size(), o.out) != c->out.size()) {
      write_failed = true;
      input_done = true;
    }
    sum.records += c->records;
    sum.errors += c->errors;
    spare.push_back(std::move(c));
    auto now = std::chrono::steady_clock::now();
    if (!o.quiet && now - last_progress >= std::chrono::seconds(2)) {
      last_progress = now;
      double s = std::chrono::duration<double>(now - started).count();
      std::fprintf(
          stderr, "referralctl attribute: %s visits, %s/s, %s errors\n",
          with_commas(sum.records).c_str(),
          with_commas(static_cast<std::uint64_t>(static_cast<double>(sum.records) / s)).c_str(),
          with_commas(sum.errors).c_str());
    }
  }
  stop_pool();
  if (std::fflush(o.out) != 0) write_failed = true;
  if (write_failed) {
    return domain::make_error(domain::errc::internal, std::string("cannot write to ") + o.out_name);
  }
  if (reader.error()) {
    return domain::make_error(domain::errc::internal, "cannot read the input");
  }
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return sum;
}

}  // namespace referrald::tools
