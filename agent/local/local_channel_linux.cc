// LocalChannel for Linux (local_channel.h): UNIX stream sockets (unix(7)),
// the peer from SO_PEERCRED and the passwd database (getpwuid_r(3)).
//
// Writes with a timeout poll(2) for room and send with MSG_DONTWAIT; every
// send uses MSG_NOSIGNAL (no SIGPIPE). Shutdown() is shutdown(2) SHUT_RDWR,
// which ends a read blocked in another thread (it returns end of stream).
// HandleForChild() returns the descriptor's number and leaves close-on-exec
// set: the relay spawner (relay_process_linux.cc) dup2(2)s it to fd 3 in the
// child, which makes only that copy inheritable, so no other child of this
// process (a prompt dialog started meanwhile) keeps the channel open.
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

#include "agent/local/local_channel.h"

namespace reclaim::agent {
namespace {

IpcStatus Error(int code, std::string message) { return IpcStatus{code, std::move(message)}; }

// `what`: strerror(e), as PERMISSION_DENIED for EACCES/EPERM, else `code`.
IpcStatus Errno(int code, const std::string& what, int e) {
  return Error(e == EACCES || e == EPERM ? kIpcPermissionDenied : code,
               what + ": " + std::strerror(e));
}

// The passwd name of `uid`. NOT_FOUND when it has none; UNAVAILABLE when the
// lookup failed.
IpcStatus LoginNameOf(std::uint32_t uid, std::string* name) {
  const long size = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(size > 0 ? static_cast<std::size_t>(size) : 16384);
  while (true) {
    passwd pw{};
    passwd* result = nullptr;
    const int rc = getpwuid_r(uid, &pw, buffer.data(), buffer.size(), &result);
    if (rc == ERANGE && buffer.size() < (1u << 20)) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (rc != 0) {
      return Error(kIpcUnavailable, "cannot look up uid " + std::to_string(uid) +
                                        " in the passwd database: " + std::strerror(rc));
    }
    if (result == nullptr || pw.pw_name == nullptr || *pw.pw_name == '\0') {
      return Error(kIpcNotFound, "uid " + std::to_string(uid) + " has no passwd entry");
    }
    *name = pw.pw_name;
    return {};
  }
}

class UnixChannel final : public ServerChannel {
 public:
  UnixChannel(int fd, std::string address) : fd_(fd), address_(std::move(address)) {}
  ~UnixChannel() override { close(fd_); }
  UnixChannel(const UnixChannel&) = delete;
  UnixChannel& operator=(const UnixChannel&) = delete;

  IpcStatus Read(void* buffer, std::size_t size, std::size_t* read) override {
    *read = 0;
    while (true) {
      const ssize_t n = ::recv(fd_, buffer, size, 0);
      if (n >= 0) {
        *read = static_cast<std::size_t>(n);
        return {};
      }
      if (errno == EINTR) continue;
      if (shut_.load()) return {};  // end of stream after Shutdown()
      const int e = errno;
      return Error(kIpcUnavailable, Describe() + " read: " +
                                        (e == EAGAIN || e == EWOULDBLOCK ? std::string("timed out")
                                                                         : std::strerror(e)));
    }
  }

  IpcStatus WriteAll(const void* data, std::size_t size,
                     std::chrono::milliseconds timeout) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const bool limited = timeout.count() > 0;
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = ::send(fd_, p, size, MSG_NOSIGNAL | (limited ? MSG_DONTWAIT : 0));
      if (n >= 0) {
        p += n;
        size -= static_cast<std::size_t>(n);
        continue;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        return Error(kIpcUnavailable, Describe() + " write: " + std::strerror(errno));
      }
      // No room: wait for some (a non-blocking descriptor without a limit
      // waits as long as it takes).
      int wait_ms = -1;
      if (limited) {
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
          return Error(kIpcDeadlineExceeded, Describe() + ": the peer did not read within " +
                                                 std::to_string(timeout.count()) + " ms");
        }
        wait_ms = static_cast<int>(left.count());
      }
      pollfd pfd{fd_, POLLOUT, 0};
      if (::poll(&pfd, 1, wait_ms) < 0 && errno != EINTR) {
        return Error(kIpcUnavailable, Describe() + " poll: " + std::strerror(errno));
      }
    }
    return {};
  }

  void Shutdown() override {
    shut_.store(true);
    ::shutdown(fd_, SHUT_RDWR);
  }

  void ShutdownWrite() override { ::shutdown(fd_, SHUT_WR); }

  std::string Describe() const override {
    return address_.empty() ? "fd " + std::to_string(fd_)
                            : "socket " + address_ + " (fd " + std::to_string(fd_) + ")";
  }

  std::string HandleForChild() override { return std::to_string(fd_); }

  IpcStatus PeerAtConnect(LocalPeer* peer) override { return Peer(peer); }
  IpcStatus AttestPeer(LocalPeer* peer) override { return Peer(peer); }

 private:
  // SO_PEERCRED: the credentials of the peer's connect(2) (or socketpair(2)).
  // On NOT_FOUND (no passwd entry) every field but login_name is filled.
  IpcStatus Peer(LocalPeer* peer) {
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (getsockopt(fd_, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
      return Error(kIpcInternal, "SO_PEERCRED: " + std::string(std::strerror(errno)));
    }
    *peer = LocalPeer{};
    peer->key = "uid:" + std::to_string(cred.uid);
    peer->uid = cred.uid;
    peer->pid = cred.pid;
    return LoginNameOf(cred.uid, &peer->login_name);
  }

  const int fd_;
  const std::string address_;
  std::atomic<bool> shut_{false};
};

class UnixListener final : public LocalListener {
 public:
  UnixListener(int fd, int wake_fd, std::string path, ino_t inode)
      : fd_(fd), wake_fd_(wake_fd), path_(std::move(path)), inode_(inode) {}
  ~UnixListener() override {
    close(fd_);
    close(wake_fd_);
    // Removes the socket unless another listener replaced it meanwhile.
    struct stat st {};
    if (lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == inode_) {
      unlink(path_.c_str());
    }
  }

  IpcStatus Accept(std::unique_ptr<ServerChannel>* channel) override {
    while (true) {
      if (interrupted_.load()) return Error(kIpcUnavailable, "interrupted");
      pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return Error(kIpcInternal, "poll on " + path_ + ": " + std::strerror(errno));
      }
      if (interrupted_.load()) return Error(kIpcUnavailable, "interrupted");
      if ((fds[0].revents & POLLIN) == 0) continue;
      const int fd = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        *channel = std::make_unique<UnixChannel>(fd, path_);
        return {};
      }
      if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) continue;
      // Out of descriptors, for instance: the caller pauses and retries.
      return Error(kIpcUnavailable, "accept on " + path_ + ": " + std::strerror(errno));
    }
  }

  void Interrupt() override {
    interrupted_.store(true);
    const std::uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
  }

  std::string address() const override { return path_; }

 private:
  const int fd_;
  const int wake_fd_;  // eventfd: Interrupt()
  const std::string path_;
  const ino_t inode_;
  std::atomic<bool> interrupted_{false};
};

// `path` as a sockaddr_un; INVALID_ARGUMENT when empty or too long.
IpcStatus SocketAddress(const std::string& path, sockaddr_un* addr) {
  *addr = sockaddr_un{};
  addr->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr->sun_path)) {
    return Error(kIpcInvalidArgument, "socket path '" + path + "' is empty or longer than " +
                                          std::to_string(sizeof(addr->sun_path) - 1) + " bytes");
  }
  std::memcpy(addr->sun_path, path.c_str(), path.size());
  return {};
}

}  // namespace

IpcStatus ListenLocal(const std::string& address, const LocalListenerOptions& options,
                      std::unique_ptr<LocalListener>* listener) {
  sockaddr_un addr{};
  if (IpcStatus s = SocketAddress(address, &addr); !s.ok()) return s;
  const std::filesystem::path dir = std::filesystem::path(address).parent_path();
  if (!dir.empty()) {
    struct stat st {};
    if (stat(dir.c_str(), &st) != 0) {
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      if (ec) {
        return Error(kIpcInternal,
                     "cannot create the socket's directory " + dir.string() + ": " + ec.message());
      }
      if (chmod(dir.c_str(), 0755) != 0) return Errno(kIpcInternal, "chmod " + dir.string(), errno);
    } else if (!S_ISDIR(st.st_mode)) {
      return Error(kIpcFailedPrecondition, dir.string() + " is not a directory");
    }
  }
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno(kIpcInternal, "socket for " + address, errno);
  auto fail = [fd](IpcStatus s) {
    close(fd);
    return s;
  };
  struct stat st {};
  if (lstat(address.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return fail(Error(kIpcFailedPrecondition,
                        address + " exists and is not a socket; refusing to replace it"));
    }
    // A socket: live (another listener answers) or stale (left by a crash).
    if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) {
      return fail(Error(kIpcFailedPrecondition,
                        "another reclaim-agent-service is listening on " + address));
    }
    if (unlink(address.c_str()) != 0) {
      return fail(Errno(kIpcInternal, "cannot remove the stale socket " + address, errno));
    }
  }
  if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return fail(Errno(kIpcInternal, "cannot bind " + address, errno));
  }
  if (chmod(address.c_str(), options.unix_mode) != 0 || listen(fd, 64) != 0 ||
      lstat(address.c_str(), &st) != 0) {
    const IpcStatus s = Errno(kIpcInternal, "cannot listen on " + address, errno);
    unlink(address.c_str());
    return fail(s);
  }
  const int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    const IpcStatus s = Errno(kIpcInternal, "eventfd", errno);
    unlink(address.c_str());
    return fail(s);
  }
  *listener = std::make_unique<UnixListener>(fd, wake, address, st.st_ino);
  return {};
}

IpcStatus ConnectLocal(const std::string& address, const LocalConnectOptions&,
                       std::unique_ptr<LocalChannel>* channel) {
  sockaddr_un addr{};
  if (IpcStatus s = SocketAddress(address, &addr); !s.ok()) return s;
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno(kIpcUnavailable, "socket", errno);
  while (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (errno == EINTR) continue;
    const int e = errno;
    close(fd);
    return Errno(kIpcUnavailable, "cannot connect to " + address, e);
  }
  *channel = std::make_unique<UnixChannel>(fd, address);
  return {};
}

IpcStatus LocalChannelPair(std::unique_ptr<LocalChannel>* first,
                           std::unique_ptr<LocalChannel>* second) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return Error(kIpcInternal, std::string("socketpair: ") + std::strerror(errno));
  }
  *first = std::make_unique<UnixChannel>(sv[0], "");
  *second = std::make_unique<UnixChannel>(sv[1], "");
  return {};
}

IpcStatus AdoptInheritedChannel(const std::string& handle_text,
                                std::unique_ptr<LocalChannel>* channel) {
  int fd = -1;
  const char* end = handle_text.data() + handle_text.size();
  const auto [ptr, ec] = std::from_chars(handle_text.data(), end, fd);
  if (handle_text.empty() || ec != std::errc() || ptr != end || fd < 0) {
    return Error(kIpcInvalidArgument, "'" + handle_text + "' is not a file descriptor number");
  }
  int type = 0;
  socklen_t len = sizeof(type);
  const int flags = fcntl(fd, F_GETFD);
  if (flags == -1 || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) {
    return Error(kIpcInvalidArgument, "fd " + handle_text + " is not an open stream socket");
  }
  fcntl(fd, F_SETFD, flags | FD_CLOEXEC);  // not passed on to this process's children
  *channel = std::make_unique<UnixChannel>(fd, "");
  return {};
}

std::string DefaultServiceAddress() { return "/run/reclaim/agent.sock"; }

}  // namespace reclaim::agent
