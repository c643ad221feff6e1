// StartBrowserBridge on Windows: the agent listens on the named pipe
// \\.\pipe\reclaim-browser-<SID> (browser_address.h) through ListenLocal
// (agent/local/local_channel.h), with a DACL that lets only this user (and
// SYSTEM) open it and only this user add instances. Every peer is checked
// twice: its process's user at accept (PeerAtConnect) and, after its first
// bytes, the user the pipe file system attests (AttestPeer); anyone but this
// user is refused and counted. The browser is the host's parent process
// (browser_process.h: cmd.exe between them is skipped). One thread accepts
// ("browser-bridge"), one thread per host connection reads
// ("browser-host"); the bytes go to the shared BridgeCore.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <list>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "agent/browser/browser_address.h"
#include "agent/browser/browser_bridge.h"
#include "agent/browser/browser_bridge_core.h"
#include "agent/browser/browser_process.h"
#include "agent/local/local_channel.h"
#include "agent/platform/process_platform.h"
#include "common/log_format.h"
#include "spdlog/spdlog.h"

namespace reclaim::agent {
namespace {

absl::Status ToStatus(const IpcStatus& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.code), s.message);
}

class BrowserBridgeWindows final : public BrowserBridge {
 public:
  BrowserBridgeWindows(BrowserBridgeOptions options, BrowserStateSink on_state)
      : options_(std::move(options)), core_(options_.web_detail, std::move(on_state)) {}
  ~BrowserBridgeWindows() override { Stop(); }

  absl::Status Bind() {
    user_sid_ = CurrentPlatformUser().sid;
    if (user_sid_.empty()) {
      return absl::FailedPreconditionError("browser bridge: this process's user SID is unknown");
    }
    if (options_.socket_path.empty()) {
      return absl::InvalidArgumentError("browser bridge: the pipe name is empty");
    }
    LocalListenerOptions lo;
    lo.windows_sddl = BrowserPipeSddl(user_sid_);
    if (IpcStatus s = ListenLocal(options_.socket_path, lo, &listener_); !s.ok()) {
      return ToStatus(s);
    }
    thread_ = std::thread([this] { AcceptLoop(); });
    spdlog::info("browser extension pipe {}", options_.socket_path);
    return absl::OkStatus();
  }

  void Stop() override {
    if (stopping_.exchange(true)) return;
    if (listener_) listener_->Interrupt();
    pause_cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    std::list<Host> hosts;
    {
      std::lock_guard<std::mutex> l(hosts_mu_);
      hosts.swap(hosts_);
    }
    for (Host& h : hosts) h.channel->Shutdown();
    for (Host& h : hosts) {
      if (h.thread.joinable()) h.thread.join();
    }
    listener_.reset();
  }

  BrowserBridgeStats stats() const override { return core_.stats(); }
  const std::string& socket_path() const override { return options_.socket_path; }

 private:
  struct Host {
    std::unique_ptr<ServerChannel> channel;
    BridgeConnection conn;
    std::int64_t host_pid = 0;
    std::thread thread;
    std::atomic<bool> done{false};
  };

  void AcceptLoop() {
    SetCurrentThreadName("browser-bridge");
    while (!stopping_.load()) {
      std::unique_ptr<ServerChannel> channel;
      const IpcStatus s = listener_->Accept(&channel);
      if (stopping_.load()) break;
      if (!s.ok()) {
        spdlog::warn("browser bridge: accept on {}: {}", options_.socket_path, s.message);
        std::unique_lock<std::mutex> l(hosts_mu_);
        pause_cv_.wait_for(l, std::chrono::milliseconds(500), [this] { return stopping_.load(); });
        continue;
      }
      ReapFinished();
      LocalPeer peer;
      const IpcStatus ps = channel->PeerAtConnect(&peer);
      std::lock_guard<std::mutex> l(hosts_mu_);
      if (!ps.ok() || peer.key != user_sid_ ||
          static_cast<int>(hosts_.size()) >= options_.max_connections) {
        core_.Count(&BrowserBridgeStats::refused_peers);
        spdlog::warn("browser bridge: refused a connection (peer {}{}, {} connections)",
                     ps.ok() ? peer.key : "unknown: ", ps.ok() ? "" : ps.message, hosts_.size());
        channel->Shutdown();
        continue;
      }
      Host& h = hosts_.emplace_back();
      h.channel = std::move(channel);
      h.host_pid = peer.pid;
      h.conn.browser_pid = BrowserProcessOfHost(peer.pid);
      h.thread = std::thread([this, &h] { Serve(&h); });
    }
  }

  // Joins the threads of connections that ended.
  void ReapFinished() {
    std::list<Host> finished;
    {
      std::lock_guard<std::mutex> l(hosts_mu_);
      for (auto it = hosts_.begin(); it != hosts_.end();) {
        auto next = std::next(it);
        if (it->done.load()) finished.splice(finished.end(), hosts_, it);
        it = next;
      }
    }
    for (Host& h : finished) {
      if (h.thread.joinable()) h.thread.join();
    }
  }

  void Serve(Host* h) {
    SetCurrentThreadName("browser-host");
    char buf[16384];
    bool attested = false;
    for (;;) {
      std::size_t n = 0;
      const IpcStatus s = h->channel->Read(buf, sizeof(buf), &n);
      if (!s.ok() || n == 0) break;
      if (!attested) {
        // The pipe file system attests the user who wrote what we just read.
        LocalPeer peer;
        const IpcStatus a = h->channel->AttestPeer(&peer);
        if (!a.ok() || peer.key != user_sid_) {
          core_.Count(&BrowserBridgeStats::refused_peers);
          spdlog::warn("browser bridge: refused host {}: {}", h->host_pid,
                       a.ok() ? absl::StrCat("it runs as ", peer.key) : a.message);
          h->channel->Shutdown();
          h->done.store(true);
          return;
        }
        attested = true;
        core_.Count(&BrowserBridgeStats::connections);
        spdlog::info("browser extension host {} connected (browser process {})", h->host_pid,
                     h->conn.browser_pid);
      }
      if (!core_.Received(&h->conn, absl::string_view(buf, n))) break;
    }
    if (attested && !stopping_.load()) core_.Closed(&h->conn);  // Stop() reports nothing
    h->channel->Shutdown();
    h->done.store(true);
  }

  const BrowserBridgeOptions options_;
  BridgeCore core_;
  std::string user_sid_;
  std::unique_ptr<LocalListener> listener_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::mutex hosts_mu_;
  std::condition_variable pause_cv_;
  std::list<Host> hosts_;  // guarded by hosts_mu_; elements stay put while their thread runs
};

}  // namespace

absl::StatusOr<std::unique_ptr<BrowserBridge>> StartBrowserBridge(BrowserBridgeOptions options,
                                                                   BrowserStateSink on_state) {
  auto bridge = std::make_unique<BrowserBridgeWindows>(std::move(options), std::move(on_state));
  if (absl::Status s = bridge->Bind(); !s.ok()) return s;
  return std::unique_ptr<BrowserBridge>(std::move(bridge));
}

}  // namespace reclaim::agent
