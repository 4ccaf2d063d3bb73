#include "tests/support/server_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "tests/support/eventually.hpp"

extern char** environ;

namespace referrald::testing {

server_process::server_process(options o) {
  int out[2], err[2];
  // Close-on-exec: a server started by another thread at the same moment must not inherit
  // this one's pipe ends (its stderr reader would then never see the end of the stream).
  // posix_spawn's dup2 onto 1 and 2 clears the flag on the child's copies.
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }

  std::vector<std::string> argv_s = {REFERRALD_BINARY, "--listen", "127.0.0.1:0", "--data",
                                     o.data_dir};
  for (auto& a : o.args)
    argv_s.push_back(a);
  std::vector<char*> argv;
  for (auto& a : argv_s)
    argv.push_back(a.data());
  argv.push_back(nullptr);

  std::vector<std::string> env_s;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "REFERRALD_", 10) != 0) env_s.emplace_back(*e);
  }
  if (o.bootstrap) env_s.push_back(std::string("REFERRALD_BOOTSTRAP_KEY=") + admin_secret);
  for (auto& e : o.env)
    env_s.push_back(e);
  std::vector<char*> envp;
  for (auto& e : env_s)
    envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  posix_spawn_file_actions_addclose(&fa, err[0]);
  int rc = posix_spawn(&pid_, REFERRALD_BINARY, &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    close(out[0]);
    close(err[0]);
    pid_ = -1;
    throw std::runtime_error(std::string("cannot start referrald: ") + std::strerror(rc));
  }
  stdout_fd_ = out[0];
  int err_fd = err[0];
  stderr_reader_ = std::thread([this, err_fd] {
    char buf[4096];
    for (;;) {
      ssize_t n = read(err_fd, buf, sizeof buf);
      if (n <= 0) break;
      std::lock_guard lock(mu_);
      stderr_.append(buf, static_cast<std::size_t>(n));
    }
    close(err_fd);
  });

  // Read stdout until "listening on 127.0.0.1:PORT\n".
  std::string line;
  // Generous: sanitizer builds starting in cluster mode on two busy cores are slow.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (line.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{stdout_fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[256];
    ssize_t n = read(stdout_fd_, buf, sizeof buf);
    if (n <= 0) break;
    line.append(buf, static_cast<std::size_t>(n));
  }
  auto colon = line.rfind(':');
  if (line.rfind("listening on ", 0) != 0 || colon == std::string::npos) {
    stop(SIGKILL);
    throw std::runtime_error("referrald did not start; stdout: '" + line +
                             "' stderr: " + stderr_text());
  }
  listen_line_ = line.substr(0, line.find('\n'));
  port_ = static_cast<std::uint16_t>(std::stoi(line.substr(colon + 1)));
}

server_process::~server_process() {
  // A server that crashed by itself says so, with what it wrote, whatever the test made of
  // it (a client sees a connection reset, a test may only wait for a timeout).
  if (auto status = exited(); status && WIFSIGNALED(*status)) {
    const int sig = WTERMSIG(*status);
    if (sig == SIGSEGV || sig == SIGABRT || sig == SIGBUS || sig == SIGILL || sig == SIGFPE) {
      std::string text = stderr_text();
      if (text.size() > 16384) text = "..." + text.substr(text.size() - 16384);
      std::fprintf(stderr, "referrald on port %u crashed (signal %d); its stderr:\n%s\n",
                   static_cast<unsigned>(port_), sig, text.c_str());
    }
  }
  if (pid_ > 0) stop(SIGKILL);
  if (stderr_reader_.joinable()) stderr_reader_.join();
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

std::optional<int> server_process::exited() {
  if (pid_ <= 0) return exit_status_;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
  pid_ = -1;
  if (stderr_reader_.joinable()) stderr_reader_.join();
  exit_status_ = status;
  return status;
}

int server_process::stop(int sig, std::chrono::seconds timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, sig);
  int status = 0;
  bool ended = eventually([&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, timeout,
                          std::chrono::milliseconds(10));
  if (!ended) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
  }
  pid_ = -1;
  if (stderr_reader_.joinable()) stderr_reader_.join();
  return status;
}

std::string server_process::stderr_text() const {
  std::lock_guard lock(mu_);
  return stderr_;
}

}  // namespace referrald::testing
