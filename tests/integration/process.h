// A child process for integration tests: spawn a binary with arguments and
// its output redirected to files, signal it, wait for it with a timeout and
// read its exit status. POSIX only (posix_spawn, waitpid), like the tests
// that use it.
//
// Owned by one test thread; not thread-safe. The destructor SIGKILLs and
// reaps a child that is still running, so a failed assertion never leaves a
// stray collector or agent behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace reclaim::integration {

/// Where a child's standard streams go. Files are opened O_APPEND|O_CREAT, so
/// restarts of the same program accumulate in one file; stdout and stderr may
/// name the same file. An empty path means /dev/null. stdin is /dev/null.
struct SpawnOptions {
  std::string stdout_path;
  std::string stderr_path;
};

class Process {
 public:
  Process() = default;
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  /// Starts `path` with `args` (argv[1..]) and the test's environment. On
  /// failure the result is not started() and error() says why.
  static Process Spawn(const std::string& path, const std::vector<std::string>& args,
                       const SpawnOptions& options = {});

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  const std::string& error() const { return error_; }

  /// Sends `sig` if the child has not been reaped yet. False if it was not
  /// running (or kill() failed).
  bool Signal(int sig);

  /// True while the child has not exited (reaps it, without blocking, when it has).
  bool Running();

  /// Waits up to `timeout` for the child to exit (polling waitpid every few
  /// ms). True once it has exited and been reaped.
  bool Wait(std::chrono::milliseconds timeout);

  /// SIGKILL and reap (waits as long as the kernel needs; a SIGKILLed child
  /// cannot refuse to die).
  void KillAndReap();

  /// The exit code once the child exited normally; nullopt while running or
  /// when a signal ended it.
  std::optional<int> exit_code() const;
  /// The signal that ended the child, if any.
  std::optional<int> term_signal() const;
  /// "running", "exit 3" or "signal 9", for assertion messages.
  std::string Describe() const;

 private:
  // Records `status` from waitpid.
  void Reaped(int status);

  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::string error_;
};

/// The result of RunToCompletion.
struct RunResult {
  /// The exit code; -1 when the child did not exit normally in time (it is
  /// then killed) or could not be started.
  int exit_code = -1;
  std::string out;  ///< Everything it wrote to stdout.
  std::string err;  ///< Everything it wrote to stderr (or the spawn error).
};

/// Runs `path args...` to completion, capturing stdout and stderr through
/// files `<scratch_prefix>.out` / `.err` (truncated first). Kills it after
/// `timeout`.
RunResult RunToCompletion(const std::string& path, const std::vector<std::string>& args,
                          const std::string& scratch_prefix,
                          std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace reclaim::integration
