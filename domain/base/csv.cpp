#include "domain/base/csv.hpp"

namespace referrald::domain {

namespace {

error bad_csv(std::size_t line, const std::string& why) {
  return make_error(errc::validation_failed,
                    "the CSV body is malformed at line " + std::to_string(line) + ": " + why,
                    {{"body", "line " + std::to_string(line) + ": " + why}});
}

}  // namespace

result<std::vector<csv_record>> parse_csv(std::string_view text, std::size_t max_records) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  std::vector<csv_record> records;
  csv_record record;
  std::string field;
  std::size_t line = 1, record_line = 1;
  bool quoted = false, after_quote = false, any = false;
  auto end_field = [&] {
    record.push_back(std::move(field));
    field.clear();
    after_quote = false;
  };
  auto end_record = [&]() -> bool {
    end_field();
    bool empty = record.size() == 1 && record[0].empty() && !any;
    if (!empty) records.push_back(std::move(record));
    record.clear();
    any = false;
    return records.size() <= max_records;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field.push_back('"');
          ++i;
        } else {
          quoted = false;
          after_quote = true;
        }
      } else {
        if (c == '\n') ++line;
        field.push_back(c);
      }
      continue;
    }
    if (c == ',') {
      end_field();
      any = true;
    } else if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      if (!end_record()) {
        return bad_csv(line, "more than " + std::to_string(max_records) + " records");
      }
      ++line;
      record_line = line;
    } else if (c == '"') {
      if (!field.empty() || after_quote) {
        return bad_csv(line, "a quote inside a field that does not start with one");
      }
      quoted = true;
      any = true;
    } else {
      if (after_quote) return bad_csv(line, "text after the closing quote of a field");
      field.push_back(c);
      any = true;
    }
  }
  if (quoted) return bad_csv(record_line, "a quoted field is not closed");
  if (!field.empty() || !record.empty() || any) {
    if (!end_record()) {
      return bad_csv(line, "more than " + std::to_string(max_records) + " records");
    }
  }
  return records;
}

void append_csv_field(std::string& out, std::string_view value) {
  if (value.find_first_of(",\"\r\n") == std::string_view::npos) {
    out.append(value);
    return;
  }
  out.push_back('"');
  for (char c : value) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

}  // namespace referrald::domain
