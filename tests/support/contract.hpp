#pragma once

// Checks the server's answers against its OpenAPI document: the route's operation must list
// the answer's status and media type, and a JSON body must validate against the schema the
// document gives for it. The JSON Schema keywords the document uses are checked: $ref (to
// #/components/...), type (one or a list), enum, const, properties, required,
// additionalProperties, minProperties, items, minItems, maxItems, minLength and maxLength (in
// code points), pattern, minimum, maximum, oneOf, anyOf, allOf; format and description are
// annotations. Any other keyword makes the check fail, so the document cannot say more than
// is checked.

#include <rapidjson/document.h>

#include <atomic>

#include <string>
#include <string_view>

#include "tests/support/http_client.hpp"

namespace referrald::testing {

class contract {
 public:
  explicit contract(std::string_view document);

  // "" when `reply` to METHOD TARGET is what the document says, else what is not. When
  // the request had a JSON body and succeeded, the body must also be one the document's
  // request schema takes (the document may not be stricter than the server), unless the
  // operation checks the items of its body one by one (x-items-checked-one-by-one: a push
  // or a batch answers 200 and reports each bad row or visit).
  std::string check(const http_client::sent& request, const http_reply& reply) const;
  std::string check(std::string_view method, std::string_view target,
                    const http_reply& reply) const {
    return check(http_client::sent{method, target, {}, {}}, reply);
  }

  // "" when `v` validates against `schema` (a value of the document), else the JSON path of
  // the first problem and what it is.
  std::string validate(const rapidjson::Value& v, const rapidjson::Value& schema) const;

  const rapidjson::Document& document() const { return doc_; }

  // The answers checked so far (every suite counts them, so that a hook that never runs is
  // noticed).
  std::size_t checked() const { return checked_; }

 private:
  std::string validate_at(const rapidjson::Value& v, const rapidjson::Value& schema,
                          const std::string& path, int depth) const;
  const rapidjson::Value* resolve(const rapidjson::Value& maybe_ref) const;
  const rapidjson::Value* find_path(std::string_view path) const;

  rapidjson::Document doc_;
  mutable std::atomic<std::size_t> checked_{0};  // requests may be checked from several threads
};

}  // namespace referrald::testing
