#include "domain/base/csv.hpp"

#include <iterator>

#include "domain/base/text.hpp"

namespace referrald::domain {

namespace {

error bad_csv(std::size_t line, const std::string& why) {
  return make_error(errc::validation_failed,
                    "the CSV body is malformed at line " + std::to_string(line) + ": " + why,
                    {{"body", "line " + std::to_string(line) + ": " + why}});
}

// The first characters that make a spreadsheet read a cell as a formula.
bool starts_formula(char c) {
  return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r';
}

// A field read whose first apostrophe neutralized a formula.
bool guarded(std::string_view field) {
  return field.size() >= 2 && field[0] == '\'' && (starts_formula(field[1]) || field[1] == '\'');
}

}  // namespace

bool csv_field_needs_guard(std::string_view value) {
  return !value.empty() && (starts_formula(value[0]) || guarded(value));
}

csv_record_read read_csv_record(std::string_view text, std::size_t pos,
                                std::vector<std::string>& fields) {
  csv_record_read r;
  std::size_t n = 0;
  auto next_field = [&]() -> std::string& {
    if (n == fields.size()) fields.emplace_back();
    std::string& f = fields[n++];
    f.clear();
    return f;
  };
  std::string* field = &next_field();
  bool quoted = false, after_quote = false, any = false;
  std::size_t i = pos;
  auto finish = [&](std::size_t end) {
    r.end = end;
    r.fields = n;
    r.blank = n == 1 && fields[0].empty() && !any;
    for (std::size_t k = 0; k < n; ++k) {
      if (guarded(fields[k])) fields[k].erase(0, 1);
    }
    return r;
  };
  auto fail = [&](std::string why) {
    r.problem = std::move(why);
    r.problem_line = r.lines;
    auto nl = text.find('\n', i);
    if (nl == std::string_view::npos) return finish(text.size());
    ++r.lines;
    return finish(nl + 1);
  };
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field->push_back('"');
          ++i;
        } else {
          quoted = false;
          after_quote = true;
        }
      } else {
        if (c == '\n') ++r.lines;
        field->push_back(c);
      }
      continue;
    }
    if (c == ',') {
      field = &next_field();
      after_quote = false;
      any = true;
    } else if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      ++r.lines;
      return finish(i + 1);
    } else if (c == '"') {
      if (!field->empty() || after_quote)
        return fail("a quote inside a field that does not start with one");
      quoted = true;
      any = true;
    } else {
      if (after_quote) return fail("text after the closing quote of a field");
      field->push_back(c);
      any = true;
    }
  }
  if (quoted) {
    // Not closed by the end of the text: the record is its first line, and reading goes on
    // at the next line (what follows is not swallowed into one field).
    r.problem = "a quoted field is not closed";
    r.problem_line = 0;
    auto nl = text.find('\n', pos);
    if (nl != std::string_view::npos) {
      r.lines = 1;
      return finish(nl + 1);
    }
    r.lines = 0;
  }
  return finish(text.size());
}

result<std::vector<csv_record>> parse_csv(std::string_view text, std::size_t max_records) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  std::vector<csv_record> records;
  std::vector<std::string> fields;
  std::size_t line = 1;
  for (std::size_t pos = 0; pos < text.size();) {
    auto r = read_csv_record(text, pos, fields);
    if (!r.problem.empty()) return bad_csv(line + r.problem_line, r.problem);
    if (!r.blank) {
      if (records.size() == max_records) {
        return bad_csv(line, "more than " + std::to_string(max_records) + " records");
      }
      records.emplace_back(std::make_move_iterator(fields.begin()),
                           std::make_move_iterator(fields.begin() + static_cast<long>(r.fields)));
    }
    line += r.lines;
    pos = r.end;
  }
  return records;
}

void append_csv_field(std::string& out, std::string_view value) {
  const bool guard = csv_field_needs_guard(value);
  if (find_first_of<',', '"', '\r', '\n'>(value) == std::string_view::npos) {
    if (guard) out.push_back('\'');
    out.append(value);
    return;
  }
  out.push_back('"');
  if (guard) out.push_back('\'');
  for (char c : value) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

}  // namespace referrald::domain
