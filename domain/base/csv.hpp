#pragma once

// CSV as RFC 4180 writes it: fields separated by commas, records by CRLF (LF accepted),
// a field holding a comma, quote, CR or LF enclosed in double quotes with its quotes
// doubled. A UTF-8 byte order mark at the start is skipped.

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

// Appends `value` as one field (quoted only when it must be).
void append_csv_field(std::string& out, std::string_view value);

}  // namespace referrald::domain
