#include "agent/browser/browser_bridge_core.h"

#include "common/log_format.h"
#include "spdlog/spdlog.h"

namespace reclaim::agent {

bool BridgeCore::Received(BridgeConnection* conn, absl::string_view bytes) {
  conn->reader.Feed(bytes);
  const std::uint64_t oversize_before = conn->reader.stats().oversize;
  bool framed = true;
  for (;;) {
    std::optional<std::string> frame;
    if (absl::Status s = conn->reader.Next(&frame); !s.ok()) {
      Count(&BrowserBridgeStats::broken_streams);
      spdlog::warn("browser bridge: closing the connection of browser {}: {}", conn->browser_pid,
                   s.message());
      framed = false;
      break;
    }
    if (!frame) break;
    std::uint64_t details_dropped = 0;
    absl::StatusOr<WebBrowserState> state = ParseWebMessage(*frame, web_detail_, &details_dropped);
    if (details_dropped > 0) {
      absl::MutexLock l(&mu_);
      stats_.details_dropped += details_dropped;
    }
    if (!state.ok()) {
      Count(&BrowserBridgeStats::malformed);
      spdlog::debug("browser bridge: {}", state.status().message());
      continue;
    }
    Count(&BrowserBridgeStats::messages);
    conn->reported = true;
    Report(conn->browser_pid, *state);
  }
  if (const std::uint64_t n = conn->reader.stats().oversize - oversize_before; n > 0) {
    absl::MutexLock l(&mu_);
    stats_.oversize += n;
  }
  return framed;
}

void BridgeCore::Closed(BridgeConnection* conn) {
  spdlog::info("browser extension host of browser {} disconnected", conn->browser_pid);
  if (conn->reported) Report(conn->browser_pid, std::nullopt);
  conn->reported = false;
}

void BridgeCore::Count(std::uint64_t BrowserBridgeStats::*field) {
  absl::MutexLock l(&mu_);
  ++(stats_.*field);
}

BrowserBridgeStats BridgeCore::stats() const {
  absl::MutexLock l(&mu_);
  return stats_;
}

void BridgeCore::Report(std::int64_t browser_pid, const std::optional<WebBrowserState>& state) {
  if (!on_state_) return;
  absl::MutexLock l(&sink_mu_);
  on_state_(browser_pid, state);
}

}  // namespace reclaim::agent
