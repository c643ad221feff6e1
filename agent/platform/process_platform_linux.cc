// process_platform.h for Linux (POSIX and glibc).
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "agent/platform/process_platform.h"

namespace reclaim::agent {
namespace {

constexpr char kMachineIdPath[] = "/etc/machine-id";

std::string Trim(std::string s) {
  auto space = [](unsigned char c) { return std::isspace(c) != 0; };
  s.erase(s.begin(), std::find_if_not(s.begin(), s.end(), space));
  s.erase(std::find_if_not(s.rbegin(), s.rend(), space).base(), s.end());
  return s;
}

sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);  // Close() wakes the watcher with it
  return set;
}

class LinuxStopRequestWatcher : public StopRequestWatcher {
 public:
  explicit LinuxStopRequestWatcher(std::function<void(const std::string&)> on_stop)
      : on_stop_(std::move(on_stop)) {
    thread_ = std::thread([this] {
      SetCurrentThreadName("stop-signals");
      const sigset_t set = StopSignals();
      while (true) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGUSR1) {
          if (closing_.load()) return;
          continue;  // not ours
        }
        on_stop_(std::string("signal ") + std::to_string(sig) + " (" + strsignal(sig) + ")");
        return;
      }
    });
  }
  ~LinuxStopRequestWatcher() override { Close(); }

  void Close() override {
    if (!thread_.joinable()) return;
    closing_ = true;
    // A thread-directed signal: only the watcher's sigwait can take it (it
    // is blocked in every thread). Harmless if the thread already ended.
    pthread_kill(thread_.native_handle(), SIGUSR1);
    thread_.join();
  }

 private:
  const std::function<void(const std::string&)> on_stop_;
  std::atomic<bool> closing_{false};
  std::thread thread_;
};

}  // namespace

PlatformUser CurrentPlatformUser() {
  PlatformUser user;
  const uid_t uid = getuid();
  user.uid = static_cast<std::uint32_t>(uid);
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    user.login_name = found->pw_name;
  } else {
    user.login_name = std::to_string(uid);
  }
  std::string short_host = HostName();
  short_host = short_host.substr(0, short_host.find('.'));
  for (char& c : short_host) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  user.domain = short_host;
  return user;
}

std::string OsVersion() {
  std::ifstream f("/etc/os-release");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("PRETTY_NAME=", 0) == 0) {
      std::string v = line.substr(12);
      if (v.size() >= 2 && v.front() == '"') v = v.substr(1, v.size() - 2);
      return v;
    }
  }
  utsname u{};
  uname(&u);
  return std::string(u.sysname) + " " + u.release;
}

std::string OsFamily() { return "linux"; }

std::string HostName() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return host;
}

std::string ReadDeviceId() {
  std::ifstream f(kMachineIdPath);
  std::string line;
  std::getline(f, line);
  return Trim(line);
}

std::string DeviceIdSource() { return kMachineIdPath; }

std::string DefaultStateDirectory() {
  std::filesystem::path base;
  if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg && *xdg) {
    base = xdg;
  } else if (const char* home = std::getenv("HOME"); home && *home) {
    base = std::filesystem::path(home) / ".local" / "state";
  } else {
    base = "/var/lib";
  }
  return (base / "reclaim").string();
}

std::string DefaultMachineStateDirectory() { return "/var/lib/reclaim"; }

std::string DefaultMachineServiceConfigFile() { return ""; }

std::int64_t CurrentProcessId() { return static_cast<std::int64_t>(getpid()); }

void SetProcessEnvironment(const std::string& name, const std::string& value) {
  setenv(name.c_str(), value.c_str(), 1);
}

void SetCurrentThreadName(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

void TuneProcessMemory() { mallopt(M_ARENA_MAX, 2); }

void PrepareForStopRequests() {
  const sigset_t set = StopSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

std::unique_ptr<StopRequestWatcher> WatchStopRequests(
    std::function<void(const std::string& reason)> on_stop) {
  return std::make_unique<LinuxStopRequestWatcher>(std::move(on_stop));
}

namespace {

// Holds the flock(2) of an open lock file; closing the descriptor (or the
// process ending) releases it. The file stays (unlinking it would let a
// third process lock a new file while a second still waits on the old one).
class FlockInstanceLock final : public InstanceLock {
 public:
  explicit FlockInstanceLock(int fd) : fd_(fd) {}
  ~FlockInstanceLock() override { close(fd_); }
  FlockInstanceLock(const FlockInstanceLock&) = delete;
  FlockInstanceLock& operator=(const FlockInstanceLock&) = delete;

 private:
  const int fd_;
};

// The pid the holder wrote into the lock file, empty when none is there yet.
std::string HolderPid(int fd) {
  char buf[32] = {};
  const ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return {};
  std::string pid = Trim(std::string(buf, static_cast<size_t>(n)));
  const bool digits = !pid.empty() && std::all_of(pid.begin(), pid.end(), [](unsigned char c) {
    return std::isdigit(c) != 0;
  });
  return digits ? pid : std::string();
}

}  // namespace

std::unique_ptr<InstanceLock> TryLockInstance(const std::string& path, std::string* error) {
  // O_CLOEXEC: a child started later (the relay, the prompt dialog) must not
  // keep the lock alive after this process ends (flock(2): the lock belongs
  // to the open file description, which a child's copy shares).
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    *error = path + ": cannot open: " + std::strerror(errno);
    return nullptr;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    if (e == EWOULDBLOCK) {
      const std::string pid = HolderPid(fd);
      *error = kInstanceLockHeld + (pid.empty() ? std::string() : " (pid " + pid + ")");
    } else {
      *error = path + ": flock: " + std::strerror(e);
    }
    close(fd);
    return nullptr;
  }
  // Our pid for the message of whoever comes second (after a shorter or
  // longer pid of an earlier holder).
  const std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(fd, 0) != 0 ||
      pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    *error = path + ": cannot write the pid: " + std::strerror(errno);
    close(fd);
    return nullptr;
  }
  return std::make_unique<FlockInstanceLock>(fd);
}

}  // namespace reclaim::agent
