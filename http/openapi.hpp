#pragma once

// The API's OpenAPI 3.1 document, generated from what the server itself uses: the route
// table (paths, methods, the query parameters each route reads, who may call it, its body
// limit, ETag and Idempotency-Key behaviour), the field tables of the stored objects
// (domain/base/schema.hpp: names, types, nullability, limits, which a body may set) and the
// error table (every error code). What a table does not hold — a summary, the shape of a
// body no field table describes — is declared here, route by route; a test checks that
// every route has its declaration and every declaration its route.
//
// Served at GET /openapi.json, printed by `referrald --openapi`, committed as
// docs/openapi.json (a test keeps the copy equal to the output).

#include <string>
#include <string_view>
#include <vector>

namespace referrald::http {

class router;

// The document (pretty-printed JSON, ending with a newline).
std::string openapi_document(const router& r);

// "GET /path" of each route the router has and no declaration here describes (routes not
// `documented`, the console's, aside).
std::vector<std::string> undocumented_routes(const router& r);
// "GET /path" of each declaration here that names no route of the router.
std::vector<std::string> unrouted_declarations(const router& r);

}  // namespace referrald::http
