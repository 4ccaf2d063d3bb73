#pragma once

// Helpers for tests of request-body validation.

#include <rapidjson/document.h>

#include <boost/test/unit_test.hpp>
#include <string_view>

#include "domain/base/json.hpp"
#include "domain/base/result.hpp"

namespace referrald::testing {

// Parses JSON that the test itself wrote (fails the test when it is not JSON).
inline rapidjson::Document parse(std::string_view text) {
  rapidjson::Document d;
  BOOST_REQUIRE_MESSAGE(domain::parse_json(text, d).ok(), text);
  return d;
}

// True when `r` failed with a detail naming `field`.
template <class T>
bool names_field(const domain::result<T>& r, std::string_view field) {
  if (r.ok()) return false;
  for (const auto& d : r.err().details) {
    if (d.field == field) return true;
  }
  return false;
}

}  // namespace referrald::testing
