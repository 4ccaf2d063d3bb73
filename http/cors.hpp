#pragma once

// The CORS step (http/chain.hpp): which web pages may call the API from a browser
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
  // Access-Control-Request-Method) is answered for an allowed origin, or one a publishable
  // key lists on a route such a key may call (`page_origin`), and refused (403) for any
  // other; a plain OPTIONS is answered with the methods.
  response options(const std::string& allow, std::string_view origin, bool preflight,
                   bool page_origin = false) const;

  // The headers an answer to a request from `origin` carries: any page may read the API's
  // description and the tracker script (`public_route`); an allowed origin may read every
  // answer, and the origin of a publishable key's request (`page_origin`) its answers.
  void decorate(response& r, std::string_view origin, bool public_route,
                bool page_origin = false) const;

 private:
  std::vector<std::string> origins_;
};

}  // namespace referrald::http
