#include "tests/e2e_x11/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/testing/test_secrets.h"

extern char** environ;

namespace reclaim::e2e {

Child& Child::operator=(Child&& other) noexcept {
  if (this != &other) {
    KillAndReap();
    pid_ = other.pid_;
    reaped_ = other.reaped_;
    status_ = other.status_;
    error_ = std::move(other.error_);
    other.pid_ = -1;
  }
  return *this;
}

Child Child::Spawn(const std::string& path, const std::vector<std::string>& args,
                   const std::string& log, const std::string& err_log) {
  Child c;
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(path.c_str()));
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  const std::string out = log.empty() ? "/dev/null" : log;
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (err_log.empty()) {
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
  } else {
    posix_spawn_file_actions_addopen(&fa, 2, err_log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Children start with default signal handling and an empty mask.
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, path.c_str(), &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    c.error_ = "cannot start " + path + ": " + std::strerror(rc);
  } else {
    c.pid_ = pid;
  }
  return c;
}

bool Child::Running() {
  if (pid_ <= 0 || reaped_) return false;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    status_ = status;
    return false;
  }
  return true;
}

bool Child::Signal(int sig) { return Running() && kill(pid_, sig) == 0; }

bool Child::Wait(std::chrono::milliseconds timeout) {
  return WaitFor([this] { return !Running(); }, timeout, std::chrono::milliseconds(5));
}

void Child::KillAndReap() {
  if (pid_ <= 0 || reaped_) return;
  kill(pid_, SIGKILL);
  int status = 0;
  if (waitpid(pid_, &status, 0) == pid_) status_ = status;
  reaped_ = true;
}

std::optional<int> Child::exit_code() const {
  if (!reaped_ || !WIFEXITED(status_)) return std::nullopt;
  return WEXITSTATUS(status_);
}

std::string Child::Describe() const {
  if (pid_ <= 0) return "not started";
  if (!reaped_) return "running";
  if (WIFEXITED(status_)) return "exit " + std::to_string(WEXITSTATUS(status_));
  if (WIFSIGNALED(status_)) return "signal " + std::to_string(WTERMSIG(status_));
  return "stopped";
}

RunResult RunToCompletion(const std::string& path, const std::vector<std::string>& args,
                          const std::string& scratch, std::chrono::milliseconds timeout) {
  RunResult r;
  { std::ofstream truncate(scratch, std::ios::trunc); }
  Child c = Child::Spawn(path, args, scratch);
  if (!c.started()) {
    r.out = c.error();
    return r;
  }
  if (!c.Wait(timeout)) c.KillAndReap();
  r.exit_code = c.exit_code().value_or(-1);
  r.out = ReadFile(scratch);
  // What the child printed is a log line too (no_secret_in_logs).
  reclaim::testing::AppendToTestLog(std::filesystem::path(path).filename().string(), r.out);
  return r;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace reclaim::e2e
