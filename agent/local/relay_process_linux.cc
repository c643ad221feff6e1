// RelaySpawner for Linux: fork/exec with a socketpair(2) (relay_process.h).
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "agent/local/relay_process.h"

extern char** environ;

namespace reclaim::agent {
namespace {

constexpr int kChildFd = 3;

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exited with status ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("killed by signal ", WTERMSIG(status));
  return absl::StrCat("ended with wait status ", status);
}

class ChildRelay final : public RelayProcess {
 public:
  ChildRelay(pid_t pid, int fd) : pid_(pid), fd_(fd) {}
  ~ChildRelay() override {
    if (fd_ >= 0) close(fd_);
    Finish(std::chrono::milliseconds(0));
  }

  int TakeSocket() override {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

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
  int fd_;
  std::string how_;
};

class ProcessRelaySpawner final : public RelaySpawner {
 public:
  explicit ProcessRelaySpawner(std::string program) : program_(std::move(program)) {}

  absl::StatusOr<std::unique_ptr<RelayProcess>> Spawn(
      const std::vector<std::string>& args) override {
    // Everything the child needs is prepared before fork(): between fork and
    // exec only async-signal-safe calls (this process has other threads).
    std::vector<std::string> argv_s = {program_};
    for (const std::string& a : args) {
      argv_s.push_back(absl::StrReplaceAll(a, {{"{fd}", std::to_string(kChildFd)}}));
    }
    std::vector<char*> argv;
    for (std::string& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    const long max_fd = sysconf(_SC_OPEN_MAX);

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      return absl::UnavailableError(absl::StrCat("socketpair: ", std::strerror(errno)));
    }
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) {
      const int e = errno;
      close(sv[0]);
      close(sv[1]);
      return absl::UnavailableError(
          absl::StrCat("cannot start ", program_, ": fork: ", std::strerror(e)));
    }
    if (pid == 0) {
      // The relay dies with the thread that started it (the agent's uplink
      // thread, which lives as long as the uplink).
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      // The relay's end becomes fd 3 (dup2 clears close-on-exec); nothing
      // else of the agent's is inherited.
      if (sv[1] == kChildFd) {
        fcntl(kChildFd, F_SETFD, 0);
      } else if (dup2(sv[1], kChildFd) < 0) {
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
    close(sv[1]);
    return std::make_unique<ChildRelay>(pid, sv[0]);
  }

  std::string program() const override { return program_; }

 private:
  const std::string program_;
};

}  // namespace

std::unique_ptr<RelaySpawner> MakeProcessRelaySpawner(std::string program) {
  return std::make_unique<ProcessRelaySpawner>(std::move(program));
}

absl::StatusOr<std::string> FindAgentService() {
  if (const char* env = std::getenv("RECLAIM_AGENT_SERVICE"); env != nullptr && *env) {
    if (access(env, X_OK) != 0) {
      return absl::NotFoundError(absl::StrCat("$RECLAIM_AGENT_SERVICE (", env,
                                              ") is not an executable file"));
    }
    return std::string(env);
  }
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return absl::NotFoundError(absl::StrCat("/proc/self/exe: ", ec.message()));
  const std::filesystem::path beside = self.parent_path() / "reclaim-agent-service";
  const std::filesystem::path build = self.parent_path() / "service" / "reclaim-agent-service";
  for (const auto& p : {beside, build}) {
    if (access(p.c_str(), X_OK) == 0) return p.string();
  }
  return absl::NotFoundError(absl::StrCat("reclaim-agent-service is neither at ", beside.string(),
                                          " nor at ", build.string(),
                                          " (set $RECLAIM_AGENT_SERVICE)"));
}

}  // namespace reclaim::agent
