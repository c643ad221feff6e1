#include "tests/integration/process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/testing/test_secrets.h"

extern char** environ;

namespace reclaim::integration {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

Process::Process(Process&& other) noexcept { *this = std::move(other); }

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    if (started() && !reaped_) KillAndReap();
    pid_ = other.pid_;
    reaped_ = other.reaped_;
    status_ = other.status_;
    error_ = std::move(other.error_);
    other.pid_ = -1;
    other.reaped_ = false;
  }
  return *this;
}

Process::~Process() {
  if (started() && !reaped_) KillAndReap();
}

Process Process::Spawn(const std::string& path, const std::vector<std::string>& args,
                       const SpawnOptions& options) {
  Process p;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  constexpr int kFlags = O_WRONLY | O_CREAT | O_APPEND;
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  const std::string out = options.stdout_path.empty() ? "/dev/null" : options.stdout_path;
  const std::string err = options.stderr_path.empty() ? "/dev/null" : options.stderr_path;
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(), kFlags, 0644);
  if (err == out) {
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  } else {
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(), kFlags, 0644);
  }
  // The child starts with default signal dispositions and an empty mask, so a
  // test runner that blocks or ignores signals does not leak that into it.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<std::string> storage;
  storage.reserve(args.size() + 1);
  storage.push_back(path);
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);

  pid_t pid = -1;
  const int rc = posix_spawn(&pid, path.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    p.error_ = "posix_spawn " + path + ": " + std::strerror(rc);
    return p;
  }
  p.pid_ = pid;
  return p;
}

void Process::Reaped(int status) {
  reaped_ = true;
  status_ = status;
}

bool Process::Signal(int sig) {
  if (!started() || reaped_) return false;
  return ::kill(pid_, sig) == 0;
}

bool Process::Running() {
  if (!started() || reaped_) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    Reaped(status);
    return false;
  }
  return true;
}

bool Process::Wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (Running()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    // Polling a child's exit: there is no portable waitpid with a timeout.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return started();
}

void Process::KillAndReap() {
  if (!started() || reaped_) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  Reaped(status);
}

std::optional<int> Process::exit_code() const {
  if (!reaped_ || !WIFEXITED(status_)) return std::nullopt;
  return WEXITSTATUS(status_);
}

std::optional<int> Process::term_signal() const {
  if (!reaped_ || !WIFSIGNALED(status_)) return std::nullopt;
  return WTERMSIG(status_);
}

std::string Process::Describe() const {
  if (!started()) return "not started (" + error_ + ")";
  if (!reaped_) return "running";
  if (auto c = exit_code()) return "exit " + std::to_string(*c);
  if (auto s = term_signal()) return "signal " + std::to_string(*s);
  return "stopped";
}

RunResult RunToCompletion(const std::string& path, const std::vector<std::string>& args,
                          const std::string& scratch_prefix, std::chrono::milliseconds timeout) {
  const std::string out = scratch_prefix + ".out";
  const std::string err = scratch_prefix + ".err";
  std::error_code ec;
  std::filesystem::remove(out, ec);
  std::filesystem::remove(err, ec);
  RunResult result;
  Process p = Process::Spawn(path, args, {.stdout_path = out, .stderr_path = err});
  if (!p.started()) {
    result.err = p.error();
    return result;
  }
  if (!p.Wait(timeout)) p.KillAndReap();
  result.exit_code = p.exit_code().value_or(-1);
  result.out = Slurp(out);
  result.err = Slurp(err);
  // What the child printed is a log line too (no_secret_in_logs).
  const std::string label = std::filesystem::path(path).filename().string();
  reclaim::testing::AppendToTestLog(label, result.out);
  reclaim::testing::AppendToTestLog(label, result.err);
  return result;
}

}  // namespace reclaim::integration
