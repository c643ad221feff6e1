#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <map>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/browser/browser_bridge.h"
#include "agent/browser/browser_bridge_core.h"
#include "agent/sources/proc_identity.h"
#include "common/log_format.h"
#include "common/status_macros.h"
#include "spdlog/spdlog.h"

namespace reclaim::agent {
namespace {

std::string Errno(const char* what) { return absl::StrCat(what, ": ", std::strerror(errno)); }

// Creates `dir` (0700) if missing; refuses one that another user owns or
// that others can write to or enter.
absl::Status PrepareDirectory(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::UnavailableError(Errno(("mkdir " + dir).c_str()));
  }
  struct stat st {};
  if (lstat(dir.c_str(), &st) != 0) return absl::UnavailableError(Errno(("stat " + dir).c_str()));
  if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 0077) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        dir, " must be a directory owned by uid ", geteuid(), " with mode 0700"));
  }
  return absl::OkStatus();
}

class BrowserBridgeLinux final : public BrowserBridge {
 public:
  BrowserBridgeLinux(BrowserBridgeOptions options, BrowserStateSink on_state)
      : options_(std::move(options)), core_(options_.web_detail, std::move(on_state)) {}
  ~BrowserBridgeLinux() override { Stop(); }

  absl::Status Bind() {
    const std::string& path = options_.socket_path;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
      return absl::InvalidArgumentError(
          absl::StrCat("browser socket path must be 1-", sizeof(addr.sun_path) - 1, " bytes"));
    }
    RETURN_IF_ERROR(PrepareDirectory(std::filesystem::path(path).parent_path().string()));
    std::memcpy(addr.sun_path, path.data(), path.size());
    listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (listen_fd_ < 0) return absl::UnavailableError(Errno("socket"));
    unlink(path.c_str());  // a stale socket of an earlier run (the directory is ours)
    const mode_t old_mask = umask(0177);
    const int rc = bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    umask(old_mask);
    if (rc != 0) return absl::UnavailableError(Errno(("bind " + path).c_str()));
    chmod(path.c_str(), 0600);
    if (listen(listen_fd_, 16) != 0) return absl::UnavailableError(Errno("listen"));
    if (pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) return absl::UnavailableError(Errno("pipe"));
    thread_ = std::thread([this] { Run(); });
    spdlog::info("browser extension socket {}", path);
    return absl::OkStatus();
  }

  void Stop() override {
    if (stopping_.exchange(true)) return;
    if (wake_[1] >= 0) {
      const char c = 1;
      (void)!write(wake_[1], &c, 1);
    }
    if (thread_.joinable()) thread_.join();
    for (auto& [fd, conn] : conns_) close(fd);
    conns_.clear();
    if (listen_fd_ >= 0) {
      close(listen_fd_);
      unlink(options_.socket_path.c_str());
    }
    for (int fd : wake_) {
      if (fd >= 0) close(fd);
    }
  }

  BrowserBridgeStats stats() const override { return core_.stats(); }
  const std::string& socket_path() const override { return options_.socket_path; }

 private:
  void Run() {
    pthread_setname_np(pthread_self(), "browser-bridge");
    std::vector<pollfd> fds;
    while (!stopping_.load()) {
      fds.clear();
      fds.push_back({wake_[0], POLLIN, 0});
      fds.push_back({listen_fd_, POLLIN, 0});
      for (const auto& [fd, conn] : conns_) fds.push_back({fd, POLLIN, 0});
      if (poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        spdlog::error("browser bridge: {}", Errno("poll"));
        return;
      }
      if (fds[0].revents != 0) break;
      if (fds[1].revents & POLLIN) Accept();
      for (size_t i = 2; i < fds.size(); ++i) {
        if (fds[i].revents != 0) Read(fds[i].fd);
      }
    }
  }

  void Accept() {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != geteuid() ||
        static_cast<int>(conns_.size()) >= options_.max_connections) {
      core_.Count(&BrowserBridgeStats::refused_peers);
      spdlog::warn("browser bridge: refused a connection (peer uid {}, {} connections)",
                   cred.uid, conns_.size());
      close(fd);
      return;
    }
    BridgeConnection conn;
    conn.browser_pid = ParentPid(options_.proc_root, cred.pid);
    spdlog::info("browser extension host {} connected (browser process {})", cred.pid,
                 conn.browser_pid);
    conns_.emplace(fd, std::move(conn));
    core_.Count(&BrowserBridgeStats::connections);
  }

  void Read(int fd) {
    BridgeConnection& conn = conns_.at(fd);
    char buf[16384];
    bool closed = false;
    for (;;) {
      const ssize_t n = read(fd, buf, sizeof(buf));
      if (n > 0) {
        if (!core_.Received(&conn, absl::string_view(buf, static_cast<size_t>(n)))) {
          closed = true;
          break;
        }
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      closed = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
      break;
    }
    if (closed) {
      core_.Closed(&conn);
      close(fd);
      conns_.erase(fd);
    }
  }

  const BrowserBridgeOptions options_;
  BridgeCore core_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::map<int, BridgeConnection> conns_;  // bridge thread only (and Stop after the join)
};

}  // namespace

absl::StatusOr<std::unique_ptr<BrowserBridge>> StartBrowserBridge(BrowserBridgeOptions options,
                                                                   BrowserStateSink on_state) {
  auto bridge = std::make_unique<BrowserBridgeLinux>(std::move(options), std::move(on_state));
  if (absl::Status s = bridge->Bind(); !s.ok()) return s;
  return std::unique_ptr<BrowserBridge>(std::move(bridge));
}

}  // namespace reclaim::agent
