// RelaySpawner for Linux: fork/exec with a LocalChannelPair (a socketpair(2))
// (relay_process.h). The child's end becomes its fd 3, so "{fd}" is "3".
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>
#include <utility>

#include "agent/local/relay_process.h"

extern char** environ;

namespace reclaim::agent {
namespace {

constexpr int kChildFd = 3;

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "ended with wait status " + std::to_string(status);
}

// `text` with every "{fd}" replaced by `fd`.
std::string ReplaceFd(std::string text, const std::string& fd) {
  for (std::size_t at = text.find("{fd}"); at != std::string::npos;
       at = text.find("{fd}", at + fd.size())) {
    text.replace(at, 4, fd);
  }
  return text;
}

class ChildRelay final : public RelayProcess {
 public:
  ChildRelay(pid_t pid, std::unique_ptr<LocalChannel> channel)
      : pid_(pid), channel_(std::move(channel)) {}
  ~ChildRelay() override {
    channel_.reset();
    Finish(std::chrono::milliseconds(0));
  }

  std::unique_ptr<LocalChannel> TakeChannel() override { return std::move(channel_); }

  std::string Finish(std::chrono::milliseconds grace) override {
    if (pid_ <= 0) return how_;
    if (WaitUpTo(grace)) return how_;
    kill(pid_, SIGTERM);
    if (WaitUpTo(grace)) return how_;
    kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    how_ = DescribeWaitStatus(status);
    pid_ = 0;
    return how_;
  }

  long pid() const override { return pid_; }

 private:
  // Polls for the child's exit (waitpid has no timeout) for up to `d`.
  bool WaitUpTo(std::chrono::milliseconds d) {
    const auto deadline = std::chrono::steady_clock::now() + d;
    while (true) {
      int status = 0;
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_ || (r < 0 && errno == ECHILD)) {
        how_ = r == pid_ ? DescribeWaitStatus(status) : "already reaped";
        pid_ = 0;
        return true;
      }
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  pid_t pid_;
  std::unique_ptr<LocalChannel> channel_;
  std::string how_;
};

class ProcessRelaySpawner final : public RelaySpawner {
 public:
  explicit ProcessRelaySpawner(std::string program) : program_(std::move(program)) {}

  IpcStatus Spawn(const std::vector<std::string>& args,
                  std::unique_ptr<RelayProcess>* relay) override {
    // Everything the child needs is prepared before fork(): between fork and
    // exec only async-signal-safe calls (this process has other threads).
    std::vector<std::string> argv_s = {program_};
    for (const std::string& a : args) argv_s.push_back(ReplaceFd(a, std::to_string(kChildFd)));
    std::vector<char*> argv;
    for (std::string& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    const long max_fd = sysconf(_SC_OPEN_MAX);

    std::unique_ptr<LocalChannel> mine, theirs;
    if (IpcStatus s = LocalChannelPair(&mine, &theirs); !s.ok()) {
      return IpcStatus{kIpcUnavailable, "cannot start " + program_ + ": " + s.message};
    }
    // Its descriptor, close-on-exec (local_channel_linux.cc).
    const int child_end = std::stoi(theirs->HandleForChild());
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) {
      return IpcStatus{kIpcUnavailable,
                       "cannot start " + program_ + ": fork: " + std::strerror(errno)};
    }
    if (pid == 0) {
      // The relay dies with the thread that started it (the agent's uplink
      // thread, which lives as long as the uplink).
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      // The relay's end becomes fd 3 (dup2 clears close-on-exec); nothing
      // else of the agent's is inherited.
      if (child_end == kChildFd) {
        fcntl(kChildFd, F_SETFD, 0);
      } else if (dup2(child_end, kChildFd) < 0) {
        _exit(127);
      }
      if (close_range(kChildFd + 1, ~0U, 0) != 0) {
        for (long fd = kChildFd + 1; fd < max_fd; ++fd) close(static_cast<int>(fd));
      }
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);  // the agent blocks SIGTERM/SIGINT
      execve(argv[0], argv.data(), environ);
      _exit(127);
    }
    theirs.reset();
    *relay = std::make_unique<ChildRelay>(pid, std::move(mine));
    return {};
  }

  std::string program() const override { return program_; }

 private:
  const std::string program_;
};

}  // namespace

std::unique_ptr<RelaySpawner> MakeProcessRelaySpawner(std::string program) {
  return std::make_unique<ProcessRelaySpawner>(std::move(program));
}

IpcStatus FindAgentService(std::string* path) {
  if (const char* env = std::getenv("RECLAIM_AGENT_SERVICE"); env != nullptr && *env) {
    if (access(env, X_OK) != 0) {
      return IpcStatus{kIpcNotFound, "$RECLAIM_AGENT_SERVICE (" + std::string(env) +
                                         ") is not an executable file"};
    }
    *path = env;
    return {};
  }
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return IpcStatus{kIpcNotFound, "/proc/self/exe: " + ec.message()};
  const std::filesystem::path beside = self.parent_path() / "reclaim-agent-service";
  const std::filesystem::path build = self.parent_path() / "service" / "reclaim-agent-service";
  for (const auto& p : {beside, build}) {
    if (access(p.c_str(), X_OK) == 0) {
      *path = p.string();
      return {};
    }
  }
  return IpcStatus{kIpcNotFound, "reclaim-agent-service is neither at " + beside.string() +
                                     " nor at " + build.string() + " (set $RECLAIM_AGENT_SERVICE)"};
}

}  // namespace reclaim::agent
