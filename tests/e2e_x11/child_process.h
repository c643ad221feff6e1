// Child processes for the X11 tests: spawn with output to a file, signal,
// wait with a deadline, run to completion; polling helpers. POSIX only.
//
// Owned by one test thread; not thread-safe. The destructor SIGKILLs and reaps
// a child still running, so a failed assertion leaves nothing behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tests/testing/wait_for.h"

namespace reclaim::e2e {

class Child {
 public:
  Child() = default;
  Child(Child&& other) noexcept { *this = std::move(other); }
  Child& operator=(Child&& other) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { KillAndReap(); }

  /// Starts `path args...` with this process's environment; stdout is
  /// appended to `log` (empty: /dev/null) and stderr to `err_log` (empty: the
  /// same as stdout); stdin is /dev/null. Check started(); error() says why not.
  static Child Spawn(const std::string& path, const std::vector<std::string>& args,
                     const std::string& log = "", const std::string& err_log = "");

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  const std::string& error() const { return error_; }
  /// True while it has not exited (reaps it without blocking once it has).
  bool Running();
  bool Signal(int sig);
  /// Waits up to `timeout` for it to exit; true once reaped.
  bool Wait(std::chrono::milliseconds timeout);
  void KillAndReap();
  /// Exit code after a normal exit.
  std::optional<int> exit_code() const;
  std::string Describe() const;

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::string error_;
};

struct RunResult {
  int exit_code = -1;  ///< -1: did not exit normally in time (then killed).
  std::string out;     ///< stdout and stderr together.
};

/// Runs to completion, output through the file `scratch` (truncated first);
/// killed after `timeout`.
RunResult RunToCompletion(const std::string& path, const std::vector<std::string>& args,
                          const std::string& scratch,
                          std::chrono::milliseconds timeout = std::chrono::seconds(30));

/// Polls a condition until it holds or a timeout passes: tests/testing/wait_for.h.
using ::reclaim::testing::WaitFor;

std::string ReadFile(const std::string& path);

}  // namespace reclaim::e2e
