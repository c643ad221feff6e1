// reclaim-native-host's I/O on Linux: stdin/stdout as they are, the agent's
// Unix socket with the listener's uid checked (SO_PEERCRED, unix(7)).
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "agent/browser/browser_address.h"
#include "agent/browser/native_host_io.h"

namespace reclaim::agent {
namespace {

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

// The connected socket of the host (the agent never writes to it: Read()
// only waits for its end).
class HostSocket final : public LocalChannel {
 public:
  HostSocket(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~HostSocket() override { close(fd_); }

  IpcStatus Read(void* buffer, std::size_t size, std::size_t* read_bytes) override {
    for (;;) {
      const ssize_t n = read(fd_, buffer, size);
      if (n >= 0) {
        *read_bytes = static_cast<std::size_t>(n);
        return {};
      }
      if (errno == EINTR) continue;
      *read_bytes = 0;
      return {kIpcUnavailable, Errno("read " + path_)};
    }
  }

  IpcStatus WriteAll(const void* data, std::size_t size,
                     std::chrono::milliseconds timeout) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = send(fd_, p, size, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        p += n;
        size -= static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (timeout.count() > 0 && left.count() <= 0) {
          return {kIpcDeadlineExceeded, "write " + path_ + ": the agent does not read"};
        }
        pollfd pfd{fd_, POLLOUT, 0};
        poll(&pfd, 1, timeout.count() > 0 ? static_cast<int>(left.count()) : -1);
        continue;
      }
      return {kIpcUnavailable, Errno("write " + path_)};
    }
    return {};
  }

  void Shutdown() override { shutdown(fd_, SHUT_RDWR); }
  void ShutdownWrite() override { shutdown(fd_, SHUT_WR); }
  std::string Describe() const override { return "socket " + path_; }
  std::string HandleForChild() override { return std::to_string(fd_); }

 private:
  const int fd_;
  const std::string path_;
};

}  // namespace

void PrepareHostStdio() {}

long ReadHostStdin(char* buffer, std::size_t size) {
  for (;;) {
    const ssize_t n = read(STDIN_FILENO, buffer, size);
    if (n < 0 && errno == EINTR) continue;
    return static_cast<long>(n);
  }
}

bool WriteHostStdout(const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = write(STDOUT_FILENO, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

std::string HostBridgeAddress() {
  const char* path = std::getenv("RECLAIM_BROWSER_SOCKET");
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  return DefaultBrowserAddress(path ? path : "", runtime ? runtime : "", getuid(), "");
}

IpcStatus ConnectHostBridge(const std::string& address, std::unique_ptr<LocalChannel>* channel) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (address.empty() || address.size() >= sizeof(addr.sun_path)) {
    return {kIpcInvalidArgument, "bad agent socket path " + address};
  }
  std::memcpy(addr.sun_path, address.data(), address.size());
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {kIpcUnavailable, Errno("socket")};
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    IpcStatus s{kIpcUnavailable, Errno("connect " + address)};
    close(fd);
    return s;
  }
  // Only our own agent hears which sites we use. The agent checks us the
  // same way (browser_bridge_linux.cc).
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != geteuid()) {
    IpcStatus s{kIpcPermissionDenied,
                "refusing the agent socket " + address + ": its listener runs as uid " +
                    std::to_string(cred.uid) + ", not as this user (uid " +
                    std::to_string(geteuid()) + ")"};
    close(fd);
    return s;
  }
  *channel = std::make_unique<HostSocket>(fd, address);
  return {};
}

}  // namespace reclaim::agent
