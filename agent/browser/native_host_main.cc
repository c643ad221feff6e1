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
//    agent's bridge, only if the listener runs as this user
//    (native_host_io.h: Linux the Unix socket $RECLAIM_BROWSER_SOCKET, else
//    $XDG_RUNTIME_DIR/reclaim/browser.sock, checked with SO_PEERCRED; Windows
//    the pipe \\.\pipe\reclaim-browser-<SID>, whose server must run as
//    this user); while the agent is not there it keeps the latest state and
//    retries (0.5 s doubling to 4 s), and sends that state first on every
//    (re)connection;
//  - answers {"v":1,"type":"ready"} once at start (the extension resets its
//    reconnect backoff on it);
//  - exits 0 when the browser closes stdin.
// Diagnostics go to stderr (the browser's log), without message content.
//
// Portable: two threads, one reading stdin, one keeping the agent
// connection; the platform I/O is in native_host_io_{linux,windows}.cc.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "agent/browser/frame_reader.h"
#include "agent/browser/native_host_io.h"
#include "agent/browser/web_message.h"

namespace {

using reclaim::agent::FrameReader;
using reclaim::agent::IpcStatus;
using reclaim::agent::LocalChannel;

constexpr std::size_t kMaxSkippableFrame = 1 << 20;
constexpr std::chrono::milliseconds kRetryInitial{500};
constexpr std::chrono::milliseconds kRetryMax{4000};
// The agent reads as it receives: a state it does not take within this is
// a stuck agent; the connection is dropped and made again.
constexpr std::chrono::milliseconds kWriteTimeout{2000};

class Host {
 public:
  explicit Host(std::string address) : address_(std::move(address)) {}

  int Run() {
    if (!reclaim::agent::WriteHostStdout(
            reclaim::agent::EncodeFrame(R"({"v":1,"type":"ready"})"))) {
      return 0;  // the browser is gone already
    }
    std::thread link([this] { KeepAgentLink(); });
    const int rc = ReadBrowser();
    {
      std::lock_guard<std::mutex> l(mu_);
      stopping_ = true;
      if (channel_) channel_->Shutdown();
    }
    cv_.notify_all();
    link.join();
    Summary();
    return rc;
  }

 private:
  // Reads the extension's messages until the browser closes stdin (0) or the
  // stream is not framed (1).
  int ReadBrowser() {
    char buf[16384];
    for (;;) {
      const long got = reclaim::agent::ReadHostStdin(buf, sizeof(buf));
      if (got <= 0) return 0;  // the browser closed the port or exited
      reader_.Feed(absl::string_view(buf, static_cast<size_t>(got)));
      if (!Drain()) return 1;
    }
  }

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
      std::lock_guard<std::mutex> l(mu_);
      latest_ = reclaim::agent::EncodeFrame(reclaim::agent::SerializeWebMessage(*state));
      SendLatestLocked();
    }
  }

  // Sends the latest state to the agent, if connected.
  void SendLatestLocked() {
    if (!channel_ || broken_ || latest_.empty()) return;
    const IpcStatus s = channel_->WriteAll(latest_.data(), latest_.size(), kWriteTimeout);
    if (!s.ok()) {
      std::fprintf(stderr, "reclaim-native-host: agent connection lost (%s); retrying\n",
                   s.message.c_str());
      broken_ = true;
      channel_->Shutdown();  // ends the link thread's Read()
    }
  }

  // The link thread: connects to the agent, sends the latest state, waits
  // for the connection's end (the agent sends nothing), and again.
  void KeepAgentLink() {
    std::chrono::milliseconds retry = kRetryInitial;
    std::unique_lock<std::mutex> l(mu_);
    while (!stopping_) {
      l.unlock();
      std::unique_ptr<LocalChannel> channel;
      const IpcStatus s = reclaim::agent::ConnectHostBridge(address_, &channel);
      l.lock();
      if (stopping_) break;
      if (!s.ok()) {
        // Nobody listening is the normal wait for the agent; anything else
        // (another user's listener) is worth the browser's log.
        if (s.code != reclaim::agent::kIpcUnavailable) {
          std::fprintf(stderr, "reclaim-native-host: %s\n", s.message.c_str());
        }
        cv_.wait_for(l, retry, [this] { return stopping_; });
        retry = std::min(retry * 2, kRetryMax);
        continue;
      }
      retry = kRetryInitial;
      channel_ = std::move(channel);
      broken_ = false;
      SendLatestLocked();
      LocalChannel* c = channel_.get();
      l.unlock();
      char buf[256];
      std::size_t n = 0;
      while (c->Read(buf, sizeof(buf), &n).ok() && n > 0) {
      }
      l.lock();
      if (!stopping_ && !broken_) {
        std::fprintf(stderr,
                     "reclaim-native-host: agent connection lost (the agent closed it); "
                     "retrying\n");
      }
      channel_.reset();
      if (!stopping_) cv_.wait_for(l, kRetryInitial, [this] { return stopping_; });
    }
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

  const std::string address_;
  FrameReader reader_{reclaim::agent::kMaxWebMessageBytes, kMaxSkippableFrame};  // stdin thread
  std::uint64_t dropped_ = 0;                                                    // stdin thread
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                   // guarded by mu_
  std::string latest_;                      // the latest valid state, framed; guarded by mu_
  std::unique_ptr<LocalChannel> channel_;   // guarded by mu_ (Read by the link thread)
  bool broken_ = false;                     // a write failed; guarded by mu_
};

}  // namespace

int main(int argc, char** argv) {
  reclaim::agent::PrepareHostStdio();
  // Browsers start the host with the extension's origin (Chromium; on Windows
  // also --parent-window=N) or the manifest path and extension id (Firefox)
  // as arguments; only an explicit --help from a person asks for the usage.
  if (argc == 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::printf(
        "reclaim-native-host: the native messaging host of Reclaim's browser extension.\n"
        "Browsers start it (see deploy/browser/install-native-host.sh, and the registry\n"
        "keys of deploy/windows/install-reclaim-agent.ps1 on Windows); it reads the\n"
        "extension's length-prefixed JSON on stdin, validates it and forwards the latest\n"
        "state to the user's running reclaim-agent over $RECLAIM_BROWSER_SOCKET, else\n"
        "(Linux) $XDG_RUNTIME_DIR/reclaim/browser.sock, else /tmp/reclaim-<uid>/browser.sock,\n"
        "(Windows) \\\\.\\pipe\\reclaim-browser-<your SID>.\n"
        "It is not meant to be run by hand.\n");
    return 0;
  }
  return Host(reclaim::agent::HostBridgeAddress()).Run();
}
