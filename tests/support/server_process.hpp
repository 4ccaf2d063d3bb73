#pragma once

// Runs the real build/referrald binary for end-to-end tests: on port 0 over loopback,
// with a data directory of the test's choosing, and a known bootstrap admin key.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace referrald::testing {

// The secret the tests install as REFERRALD_BOOTSTRAP_KEY.
inline constexpr const char* admin_secret = "rk_test_admin_secret_0123456789abcdef";

class server_process {
 public:
  struct options {
    std::string data_dir;
    std::vector<std::string> args;  // extra flags
    std::vector<std::string> env;   // extra NAME=VALUE
    bool bootstrap = true;          // set REFERRALD_BOOTSTRAP_KEY=admin_secret
  };

  // Starts the server and waits (up to 90 s) for its "listening on" line.
  explicit server_process(options o);
  ~server_process();
  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  std::uint16_t port() const { return port_; }
  const std::string& listen_line() const { return listen_line_; }
  pid_t pid() const { return pid_; }

  // Sends `sig` and waits (bounded) for the exit; returns the wait status.
  int stop(int sig, std::chrono::seconds timeout = std::chrono::seconds(20));
  bool running() const { return pid_ > 0; }
  // The wait status once the server exited by itself (not waiting); nullopt while it runs.
  std::optional<int> exited();

  // Everything the server wrote to stderr so far.
  std::string stderr_text() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  std::uint16_t port_ = 0;
  std::string listen_line_;
  int stdout_fd_ = -1;
  mutable std::mutex mu_;
  std::string stderr_;
  std::thread stderr_reader_;
};

}  // namespace referrald::testing
