#pragma once

// The one mapping from error kinds to HTTP: status code, the `code` slug of the error
// body, and extra headers. Handlers never choose error statuses or build error bodies.

#include <optional>
#include <string>
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

// The error envelope {"success":false,"error":{...}}; with `request_id`, the error object
// ends with "request_id" (the answer's X-Request-Id).
std::string error_body(const domain::error& e, std::string_view request_id = {});

// An error envelope's bytes read back into the error they say (an answer stored for an
// Idempotency-Key, replayed under a new request id); nullopt for any other body.
std::optional<domain::error> error_of_body(std::string_view body);

}  // namespace referrald::http
