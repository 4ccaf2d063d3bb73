#pragma once

// The one mapping from error kinds to HTTP: status code, the `code` slug of the error
// body, and extra headers. Handlers never choose error statuses or build error bodies.

#include <string_view>

#include "domain/base/json.hpp"
#include "domain/base/result.hpp"

namespace referrald::http {

struct error_mapping {
  unsigned status;
  std::string_view code;
};

error_mapping map_error(domain::errc e);

// {"code":..,"message":..,"details":[{"field":..,"message":..}]}: the error object of the
// error envelope, also used per item in batch results.
void write_error_object(domain::json_writer& w, const domain::error& e);

}  // namespace referrald::http
