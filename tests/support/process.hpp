#pragma once

// Locating helper executables built next to the running test binary, and reading a
// process's memory.

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace referrald::testing {

// The directory that holds the running executable.
inline std::filesystem::path executable_dir() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw std::runtime_error("cannot read /proc/self/exe");
  buf[n] = '\0';
  return std::filesystem::path(buf).parent_path();
}

// `name` in the running executable's directory; throws when it is not there.
inline std::string sibling_executable(const std::string& name) {
  auto p = executable_dir() / name;
  if (!std::filesystem::exists(p)) throw std::runtime_error("missing helper " + p.string());
  return p.string();
}

// The resident memory of process `pid` (VmRSS), in KiB; -1 when it cannot be read.
inline long rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

}  // namespace referrald::testing
