#pragma once

// The entity tag step (http/chain.hpp): a 200 or 201 answer of a route that answers one
// object carries its ETag (the object's, not the envelope's: the same tag as a write's
// If-Match is checked against), and a GET or HEAD whose If-None-Match names it is answered
// 304 without a body (docs/api-guide.md, "Conditional requests").

#include <string_view>

#include "http/request.hpp"
#include "http/response.hpp"

namespace referrald::http {

// `if_none_match` ("" when absent) is the request's header.
void tag_answer(response& r, method verb, std::string_view if_none_match);

}  // namespace referrald::http
