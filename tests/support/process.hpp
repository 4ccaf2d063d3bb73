#pragma once

// Locating helper executables built next to the running test binary, and reading a
// process's memory and threads.

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

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

// The nice value in a /proc stat file (field 19, the 17th after the name in parentheses);
// 99 when it cannot be read.
inline int nice_in_stat(const std::filesystem::path& stat_file) {
  std::ifstream stat(stat_file);
  std::string line, field;
  if (!std::getline(stat, line) || line.rfind(") ") == std::string::npos) return 99;
  std::istringstream fields(line.substr(line.rfind(") ") + 2));
  for (int i = 0; i < 17; ++i)
    fields >> field;
  return field.empty() ? 99 : std::stoi(field);
}

// The nice value of process `pid` (its main thread's).
inline int process_nice(pid_t pid) {
  return nice_in_stat("/proc/" + std::to_string(pid) + "/stat");
}

// Calls fn(name, task directory) for each thread of process `pid` (/proc/PID/task/*).
template <class Fn>
void for_each_thread(pid_t pid, Fn&& fn) {
  std::error_code ec;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    if (std::getline(comm, name)) fn(name, task.path());
  }
}

// The names of process `pid`'s threads.
inline std::set<std::string> thread_names(pid_t pid) {
  std::set<std::string> names;
  for_each_thread(
      pid, [&](const std::string& name, const std::filesystem::path&) { names.insert(name); });
  return names;
}

// The nice values of process `pid`'s threads named `name`.
inline std::vector<int> thread_nice(pid_t pid, const std::string& name) {
  std::vector<int> found;
  for_each_thread(pid, [&](const std::string& n, const std::filesystem::path& task) {
    if (n == name) found.push_back(nice_in_stat(task / "stat"));
  });
  return found;
}

}  // namespace referrald::testing
