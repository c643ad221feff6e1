// reclaim-native-host: the native messaging host of the Reclaim browser
// extension (agent/browser/extension).
//
// The browser starts it when the extension calls runtime.connectNative
// ("com.reclaim.webfocus"), with the caller's origin (Chromium:
// "chrome-extension://ID/") or the host manifest path and extension id
// (Firefox) as arguments, and talks to it over stdin/stdout in
// native-messaging framing (frame_reader.h). It:
//  - validates each message from the extension (web_message.h): size, JSON
//    shape, origin syntax; a bad one is dropped and counted (never a crash);
//    a stream that is not framed ends the host (exit 1), the extension then
//    reconnects;
//  - forwards each valid state, re-serialised (hosts, and the path and title
//    when the extension sent them: the host has no configuration of its own,
//    the agent keeps only what its --web-detail allows), to the running
//    agent's Unix socket, only if the listener runs as this user (SO_PEERCRED)
//    (DefaultBrowserSocketPath: $RECLAIM_BROWSER_SOCKET,
//    else $XDG_RUNTIME_DIR/reclaim/browser.sock); while the agent is not
//    there it keeps the latest state and retries (0.5 s doubling to 4 s), and
//    sends that state first on every (re)connection;
//  - answers {"v":1,"type":"ready"} once at start (the extension resets its
//    reconnect backoff on it);
//  - exits 0 when the browser closes stdin.
// Diagnostics go to stderr (the browser's log), without message content.
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "agent/browser/frame_reader.h"
#include "agent/browser/web_message.h"

namespace {

using reclaim::agent::FrameReader;

constexpr std::size_t kMaxSkippableFrame = 1 << 20;
constexpr int kRetryInitialMs = 500;
constexpr int kRetryMaxMs = 4000;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

int ConnectAgent(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return -1;
  std::memcpy(addr.sun_path, path.data(), path.size());
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  // Only our own agent hears which sites we use: without $XDG_RUNTIME_DIR
  // the socket is under /tmp, where another user may have put a listener
  // first. The agent checks us the same way (browser_bridge_linux.cc).
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != geteuid()) {
    std::fprintf(stderr,
                 "reclaim-native-host: refusing the agent socket %s: its listener runs as uid %u, "
                 "not as this user (uid %u)\n",
                 path.c_str(), static_cast<unsigned>(cred.uid), static_cast<unsigned>(geteuid()));
    close(fd);
    return -1;
  }
  return fd;
}

class Host {
 public:
  explicit Host(std::string socket_path) : socket_path_(std::move(socket_path)) {}

  int Run() {
    if (!reclaim::agent::WriteAll(STDOUT_FILENO,
                                  reclaim::agent::EncodeFrame(R"({"v":1,"type":"ready"})"))
             .ok()) {
      return 0;  // the browser is gone already
    }
    TryConnect();
    for (;;) {
      pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {agent_fd_, POLLIN, 0}};
      const int timeout = agent_fd_ < 0 ? retry_ms_ : -1;
      const int n = poll(fds, agent_fd_ < 0 ? 1 : 2, timeout);
      if (n < 0 && errno != EINTR) {
        std::fprintf(stderr, "reclaim-native-host: poll: %s\n", std::strerror(errno));
        return 1;
      }
      if (n == 0) {
        TryConnect();
        continue;
      }
      if (agent_fd_ >= 0 && fds[1].revents != 0) {
        char buf[256];
        if (read(agent_fd_, buf, sizeof(buf)) <= 0) Disconnect("the agent closed the connection");
      }
      if (fds[0].revents != 0) {
        char buf[16384];
        const ssize_t got = read(STDIN_FILENO, buf, sizeof(buf));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
          Summary();
          return 0;  // the browser closed the port or exited
        }
        reader_.Feed(absl::string_view(buf, static_cast<size_t>(got)));
        if (!Drain()) {
          Summary();
          return 1;
        }
      }
    }
  }

 private:
  // Handles every complete frame; false when the stream is not framed.
  bool Drain() {
    for (;;) {
      std::optional<std::string> frame;
      if (absl::Status s = reader_.Next(&frame); !s.ok()) {
        std::fprintf(stderr, "reclaim-native-host: %s\n", std::string(s.message()).c_str());
        return false;
      }
      if (!frame) return true;
      absl::StatusOr<reclaim::agent::WebBrowserState> state =
          reclaim::agent::ParseWebMessage(*frame, {.path = true, .title = true});
      if (!state.ok()) {
        if (++dropped_ <= 10) {
          std::fprintf(stderr, "reclaim-native-host: dropped: %s\n",
                       std::string(state.status().message()).c_str());
        }
        continue;
      }
      latest_ = reclaim::agent::EncodeFrame(reclaim::agent::SerializeWebMessage(*state));
      if (agent_fd_ >= 0) Send();
    }
  }

  void TryConnect() {
    agent_fd_ = ConnectAgent(socket_path_);
    if (agent_fd_ < 0) {
      retry_ms_ = std::min(retry_ms_ * 2, kRetryMaxMs);
      return;
    }
    retry_ms_ = kRetryInitialMs;
    if (!latest_.empty()) Send();
  }

  void Send() {
    if (!reclaim::agent::WriteAll(agent_fd_, latest_).ok()) Disconnect("write failed");
  }

  void Disconnect(const char* why) {
    std::fprintf(stderr, "reclaim-native-host: agent connection lost (%s); retrying\n", why);
    close(agent_fd_);
    agent_fd_ = -1;
    retry_ms_ = kRetryInitialMs;
  }

  void Summary() {
    if (dropped_ > 0 || reader_.stats().oversize > 0) {
      std::fprintf(stderr,
                   "reclaim-native-host: %llu messages, %llu dropped as malformed, %llu oversize\n",
                   static_cast<unsigned long long>(reader_.stats().frames),
                   static_cast<unsigned long long>(dropped_),
                   static_cast<unsigned long long>(reader_.stats().oversize));
    }
  }

  const std::string socket_path_;
  FrameReader reader_{reclaim::agent::kMaxWebMessageBytes, kMaxSkippableFrame};
  std::string latest_;  // the latest valid state, framed
  int agent_fd_ = -1;
  int retry_ms_ = kRetryInitialMs;
  std::uint64_t dropped_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  // Browsers start the host with the extension's origin (Chromium) or the
  // manifest path and extension id (Firefox) as arguments; only an explicit
  // --help from a person asks for the usage.
  if (argc == 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::printf(
        "reclaim-native-host: the native messaging host of Reclaim's browser extension.\n"
        "Browsers start it (see deploy/browser/install-native-host.sh); it reads the\n"
        "extension's length-prefixed JSON on stdin, validates it and forwards the latest\n"
        "state to the user's running reclaim-agent over $RECLAIM_BROWSER_SOCKET, else\n"
        "$XDG_RUNTIME_DIR/reclaim/browser.sock, else /tmp/reclaim-<uid>/browser.sock.\n"
        "It is not meant to be run by hand.\n");
    return 0;
  }
  const std::string path = reclaim::agent::DefaultBrowserSocketPath(
      Env("RECLAIM_BROWSER_SOCKET"), Env("XDG_RUNTIME_DIR"), getuid());
  return Host(path).Run();
}
