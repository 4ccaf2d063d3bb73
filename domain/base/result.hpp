#pragma once

// Errors as values. Every expected failure (bad input, missing entity, conflict, I/O) is
// an `error` returned inside a `result<T>`; exceptions are kept for fatal start-up
// errors. The http layer maps `errc` to a status code and a JSON body in one table
// (http/error_table.cpp); nothing below http knows about status codes.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace referrald::domain {

// What went wrong, independent of the transport. The numeric values never change.
enum class errc : std::uint8_t {
  validation_failed = 1,       // a field or parameter breaks a documented constraint
  invalid_json = 2,            // the body is not valid UTF-8 JSON
  not_found = 3,               // the entity does not exist in the requested account
  conflict = 4,                // uniqueness or idempotency conflict
  unauthorized = 5,            // no or unknown credentials
  forbidden = 6,               // credentials lack the role or the tenant
  payload_too_large = 7,       // body over the route's limit
  unsupported_media_type = 8,  // body is not application/json
  method_not_allowed = 9,      // known path, wrong method
  unavailable = 10,            // a component did not answer in time or is shut down
  internal = 11,               // storage failure or broken invariant
  route_not_found = 12,        // no such route
  header_too_large = 13,       // request header over the server's limit
  bad_request = 14,            // a malformed HTTP request (framing, headers)
  not_implemented = 15,        // an HTTP feature the server does not support
  insufficient_storage = 16,   // the disk is (nearly) full; nothing was stored
  store_corrupted = 17,        // stored data failed its checks; retrying will not help
  rate_limited = 18,           // the caller's request budget is spent for now
  precondition_failed = 19,    // If-Match named another version of the object
  beaten = 20,  // another writer's write took the position this one claimed (cluster mode):
                // the writer applies it and decides again; never a client's answer
};

struct field_error {
  std::string field;
  std::string message;
};

struct error {
  errc code = errc::internal;
  std::string message;  // for whoever asked: never names files or internals
  std::vector<field_error> details;
  std::string cause;  // for operators (logs, the CLI): the underlying library's words
};

inline error make_error(errc code, std::string message, std::vector<field_error> details = {}) {
  return error{code, std::move(message), std::move(details), {}};
}

// Shorthand for a validation error that names one field.
inline error field_invalid(std::string field, std::string message) {
  std::string summary = field + ": " + message;
  return error{errc::validation_failed,
               std::move(summary),
               {field_error{std::move(field), std::move(message)}},
               {}};
}

template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  result(error e) : v_(std::in_place_index<1>, std::move(e)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const domain::error& err() const& { return std::get<1>(v_); }
  domain::error&& err() && { return std::get<1>(std::move(v_)); }

  // The value, or `fallback` when this holds an error.
  T value_or(T fallback) && { return ok() ? std::move(value()) : std::move(fallback); }

 private:
  std::variant<T, domain::error> v_;
};

template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(error e) : e_(std::move(e)) {}

  bool ok() const { return !e_.has_value(); }
  explicit operator bool() const { return ok(); }
  const domain::error& err() const& { return *e_; }
  domain::error&& err() && { return std::move(*e_); }

 private:
  std::optional<domain::error> e_;
};

using status = result<void>;

}  // namespace referrald::domain
