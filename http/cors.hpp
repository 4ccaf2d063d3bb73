#pragma once

// The CORS step (http/exchange.hpp): which web pages may call the API from a browser
// (`--cors-origins`), the answer to a preflight, and the headers an answer carries for an
// allowed origin (docs/api-guide.md, "Browsers (CORS)").

#include <string>
#include <string_view>
#include <vector>

#include "http/response.hpp"

namespace referrald::http {

class cors {
 public:
  explicit cors(std::vector<std::string> origins) : origins_(std::move(origins)) {}

  bool allowed(std::string_view origin) const;

  // OPTIONS on a known path whose methods are `allow`: a preflight (an Origin and an
  // Access-Control-Request-Method) is answered for an allowed origin and refused (403) for
  // any other; a plain OPTIONS is answered with the methods.
  response options(const std::string& allow, std::string_view origin, bool preflight) const;

  // The headers an answer to a request from `origin` carries: any page may read the API's
  // description (`public_route`); an allowed origin may read every answer.
  void decorate(response& r, std::string_view origin, bool public_route) const;

 private:
  std::vector<std::string> origins_;
};

}  // namespace referrald::http
