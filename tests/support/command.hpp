#pragma once

// Running build/referralctl (and other programs) from a test (its path is the REFERRALCTL_BINARY
// definition of the test target).

#include <sys/wait.h>

#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <string>

namespace referrald::testing {

struct command_result {
  int exit = -1;
  std::string output;  // stdout and stderr
};

// Runs `binary` with `args` (trusted test paths, no quoting needed) and waits for it.
inline command_result run_command(const std::string& binary, const std::string& args) {
  command_result r;
  std::string cmd = binary + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  BOOST_REQUIRE(p != nullptr);
  char buf[4096];
  std::size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0)
    r.output.append(buf, n);
  int status = pclose(p);
  r.exit = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// Runs referralctl with `args`.
inline command_result referralctl(const std::string& args) {
  return run_command(REFERRALCTL_BINARY, args);
}

}  // namespace referrald::testing
