#include "agent/browser/browser_bridge_local.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <list>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "agent/browser/browser_bridge_core.h"
#include "agent/platform/process_platform.h"
#include "common/log_format.h"
#include "spdlog/spdlog.h"

namespace reclaim::agent {
namespace {

// The peer's key is known: OK, or NOT_FOUND from a uid without a passwd
// entry (Linux: every field but the login name is filled; the bridge needs
// only the key).
bool Known(const IpcStatus& s, const LocalPeer& peer) {
  return (s.ok() || s.code == kIpcNotFound) && !peer.key.empty();
}

class LocalBrowserBridge final : public BrowserBridge {
 public:
  LocalBrowserBridge(BrowserBridgeOptions options, BrowserStateSink on_state,
                     std::unique_ptr<LocalListener> listener, LocalBridgePeers peers)
      : options_(std::move(options)),
        core_(options_.web_detail, std::move(on_state)),
        listener_(std::move(listener)),
        peers_(std::move(peers)) {
    thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~LocalBrowserBridge() override { Stop(); }

  void Stop() override {
    if (stopping_.exchange(true)) return;
    listener_->Interrupt();
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
    listener_.reset();  // closes the pipe / removes the socket
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
      if (!Known(ps, peer) || peer.key != peers_.user_key ||
          static_cast<int>(hosts_.size()) >= options_.max_connections) {
        core_.Count(&BrowserBridgeStats::refused_peers);
        spdlog::warn("browser bridge: refused a connection (peer {}, {} connections)",
                     Known(ps, peer) ? peer.key : ps.message, hosts_.size());
        channel->Shutdown();
        continue;
      }
      Host& h = hosts_.emplace_back();
      h.channel = std::move(channel);
      h.host_pid = peer.pid;
      h.conn.browser_pid = peers_.browser_of_host ? peers_.browser_of_host(peer.pid) : 0;
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
        // The OS attests the user who wrote what was just read.
        LocalPeer peer;
        const IpcStatus a = h->channel->AttestPeer(&peer);
        if (!Known(a, peer) || peer.key != peers_.user_key) {
          core_.Count(&BrowserBridgeStats::refused_peers);
          spdlog::warn("browser bridge: refused host {}: {}", h->host_pid,
                       Known(a, peer) ? absl::StrCat("it runs as ", peer.key) : a.message);
          h->done.store(true);  // before the peer can see the end: its slot is free
          h->channel->Shutdown();
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
    h->done.store(true);
    h->channel->Shutdown();
  }

  const BrowserBridgeOptions options_;
  BridgeCore core_;
  std::unique_ptr<LocalListener> listener_;  // reset by Stop() after the accept thread ended
  const LocalBridgePeers peers_;
  std::atomic<bool> stopping_{false};
  std::mutex hosts_mu_;
  std::condition_variable pause_cv_;
  std::list<Host> hosts_;  // guarded by hosts_mu_; elements stay put while their thread runs
  std::thread thread_;     // last: started by the constructor once the rest exists
};

}  // namespace

absl::StatusOr<std::unique_ptr<BrowserBridge>> StartLocalBrowserBridge(
    BrowserBridgeOptions options, BrowserStateSink on_state,
    std::unique_ptr<LocalListener> listener, LocalBridgePeers peers) {
  if (!listener) return absl::InvalidArgumentError("browser bridge: no listener");
  if (peers.user_key.empty()) {
    return absl::InvalidArgumentError("browser bridge: this process's user is unknown");
  }
  return std::unique_ptr<BrowserBridge>(std::make_unique<LocalBrowserBridge>(
      std::move(options), std::move(on_state), std::move(listener), std::move(peers)));
}

}  // namespace reclaim::agent
