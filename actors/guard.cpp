#include "actors/guard.hpp"

#include <string>

#include "infra/log.hpp"
#include "infra/metrics.hpp"

namespace referrald::actors {

void report_exception(std::string_view where, const std::exception_ptr& e) noexcept {
  try {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      what = ex.what();
    } catch (...) {
    }
    infra::metrics().actor_exceptions.fetch_add(1, std::memory_order_relaxed);
    infra::log(infra::log_level::error, std::string(where) + " failed with an exception: " + what);
  } catch (...) {
    infra::metrics().actor_exceptions.fetch_add(1, std::memory_order_relaxed);
  }
}

domain::error handler_failed() {
  return domain::make_error(domain::errc::internal,
                            "the server failed to handle this request; it was logged");
}

}  // namespace referrald::actors
