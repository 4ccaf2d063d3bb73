#pragma once

// Containing exceptions at the edge of an actor's handlers. CAF 0.17 ends an actor whose
// handler throws, silently for its callers; a detached pool worker that ends is not
// replaced, so a pool could die one exception at a time. Every handler therefore runs its
// body through contain(): an exception (none is expected: expected failures are values)
// is logged with where it happened, counted in referrald_actor_exceptions_total, and the
// request is answered `internal` when it carries a reply channel. What the actor does
// next is its own decision: stateless workers go on; an account actor quits so that its
// state is rebuilt from the store by the next one.

#include <exception>
#include <string_view>
#include <utility>

#include "actors/reply.hpp"

namespace referrald::actors {

// Logs and counts an exception caught in `where`. Never throws.
void report_exception(std::string_view where, const std::exception_ptr& e) noexcept;

// The answer for a request whose handler failed with an exception.
domain::error handler_failed();

// Runs `fn()`; on an exception, reports it and answers `msg` (if it has a `reply`).
// Returns false when `fn` threw.
template <class Msg, class Fn>
bool contain(std::string_view where, Msg& msg, Fn&& fn) noexcept {
  try {
    std::forward<Fn>(fn)();
    return true;
  } catch (...) {
    report_exception(where, std::current_exception());
    if constexpr (requires { msg.reply->deliver(handler_failed()); }) {
      try {
        if (msg.reply) msg.reply->deliver(handler_failed());
      } catch (...) {
        report_exception(where, std::current_exception());
      }
    }
    return false;
  }
}

}  // namespace referrald::actors
