#pragma once

// The server in the test's own process, on port 0 over loopback, with the same store,
// actors and HTTP server as build/referrald, and a clock the test sets
// (tests/support/test_clock.hpp): what depends on time — rate limits, key expiry and
// rotation overlaps, last use, timestamps, timeouts — is tested by moving the clock, not by
// waiting for it.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "actors/runtime.hpp"
#include "http/server.hpp"
#include "store/db.hpp"
#include "tests/support/test_clock.hpp"

namespace referrald::testing {

class in_process_server {
 public:
  // Adjusts what the server is made with (the flags of build/referrald, as options). A
  // placement set here is the server's instead of the runtime's (it must outlive the server).
  using configure = std::function<void(http::server_options&, actors::runtime_options&)>;

  // Opens a store in `data_dir`, installs the admin key `admin_secret`
  // (tests/support/server_process.hpp) and serves until destroyed. `clock` must outlive it.
  in_process_server(const std::string& data_dir, test_clock& clock, const configure& fn = {});
  ~in_process_server();
  in_process_server(const in_process_server&) = delete;
  in_process_server& operator=(const in_process_server&) = delete;

  std::uint16_t port() const { return port_; }

 private:
  std::unique_ptr<store::db> db_;
  std::unique_ptr<actors::runtime> runtime_;
  std::unique_ptr<http::server> server_;
  std::thread serving_;
  std::uint16_t port_ = 0;
};

}  // namespace referrald::testing
