#pragma once

// CSV as RFC 4180 writes it: fields separated by commas, records by CRLF (LF accepted),
// a field holding a comma, quote, CR or LF enclosed in double quotes with its quotes
// doubled. A UTF-8 byte order mark at the start is skipped.
//
// Formulas are neutralized (OWASP's "CSV injection"): a spreadsheet runs a cell that starts
// with =, +, -, @, a tab or a CR as a formula, and such values come from anyone's link
// (utm_* parameters). A value that starts with one of them, or with an apostrophe followed
// by one of them or by another apostrophe, is written with an apostrophe before it, which
// spreadsheets show as text; a field read that starts with an apostrophe followed by one
// of those characters or by another apostrophe loses its first apostrophe. So every value
// reads back as it was written.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "domain/base/result.hpp"

namespace referrald::domain {

using csv_record = std::vector<std::string>;

// Every record of `text` (the last line break is optional; empty lines are skipped), or
// an invalid_csv validation error naming the line: a quote inside an unquoted field,
// text after a closing quote, an unterminated quoted field, more than `max_records`.
result<std::vector<csv_record>> parse_csv(std::string_view text, std::size_t max_records);

// One record read by read_csv_record.
struct csv_record_read {
  std::size_t end = 0;           // where the next record starts
  std::size_t fields = 0;        // how many of the fields given hold this record's
  std::size_t lines = 0;         // the line breaks it spans, its own included
  bool blank = false;            // an empty line: no field, no comma
  std::string problem;           // why it is malformed (it then ends with its line); or empty
  std::size_t problem_line = 0;  // the line of the problem, counted from the record's first
};

// Reads the record of `text` that starts at `pos` into fields[0..fields) (their storage
// reused from record to record: no allocation once they have grown), each without the
// apostrophe that neutralized a formula.
csv_record_read read_csv_record(std::string_view text, std::size_t pos,
                                std::vector<std::string>& fields);

// Appends `value` as one field (quoted only when it must be; neutralized when it would be
// read as a formula).
void append_csv_field(std::string& out, std::string_view value);

// True when append_csv_field writes `value` with an apostrophe before it.
bool csv_field_needs_guard(std::string_view value);

}  // namespace referrald::domain
