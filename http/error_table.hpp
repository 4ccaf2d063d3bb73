#pragma once

// The one mapping from error kinds to HTTP: status code, the `code` slug of the error
// body, and extra headers. Handlers never choose error statuses or build error bodies.

#include <string_view>

#include "domain/result.hpp"

namespace referrald::http {

struct error_mapping {
  unsigned status;
  std::string_view code;
};

error_mapping map_error(domain::errc e);

}  // namespace referrald::http
