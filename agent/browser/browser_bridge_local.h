// The browser bridge over a LocalListener (agent/local/local_channel.h): the
// transport-independent half of a twin that serves reclaim-native-host over
// the local channel. One thread accepts ("browser-bridge"), one thread per
// host connection reads ("browser-host"); every peer is checked twice, its
// user when it connects (PeerAtConnect) and the user the OS attests after its
// first bytes (AttestPeer); anyone but `user_key` is refused and counted.
// The bytes go to BridgeCore. Used by browser_bridge_windows.cc (named
// pipe); tested on Linux with a fake listener
// (tests/agent/browser/browser_bridge_local_test.cc).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/browser/browser_bridge.h"
#include "agent/local/local_channel.h"

namespace reclaim::agent {

/// What the platform tells the bridge.
struct LocalBridgePeers {
  /// LocalPeer::key of the only user served (Windows: this user's SID).
  std::string user_key;
  /// The browser process that started the host with process id `host_pid`
  /// (0 when unknown). Called once per accepted connection.
  std::function<std::int64_t(std::int64_t host_pid)> browser_of_host;
};

/// Starts serving `listener` (already listening on options.socket_path).
/// Uses options.max_connections and options.web_detail. Errors:
/// kInvalidArgument when `listener` is null or `peers.user_key` is empty.
[[nodiscard]] absl::StatusOr<std::unique_ptr<BrowserBridge>> StartLocalBrowserBridge(
    BrowserBridgeOptions options, BrowserStateSink on_state,
    std::unique_ptr<LocalListener> listener, LocalBridgePeers peers);

}  // namespace reclaim::agent
