// BrowserBridge: the agent's end of the browser extension's messages.
//
// reclaim-native-host (started by the browser for the extension) connects to
// a local endpoint the agent owns and forwards the extension's state
// messages (web_message.h) in native-messaging framing (frame_reader.h).
// What happens to the bytes is shared (browser_bridge_core.h), and so is the
// serving over the local channel (browser_bridge_local.h: agent/local/
// local_channel.h's listener, peers checked at accept and attested after
// their first bytes); the endpoint is a platform twin:
//  - Linux (browser_bridge_linux.cc): a Unix stream socket; the agent
//    creates the socket's directory with mode 0700 (refusing one that is not
//    owned by this user or is open to others) and the socket with mode 0600;
//    checks every peer with SO_PEERCRED (only processes of this user are
//    served; others are refused and counted); the browser is the parent
//    process of the peer, read from /proc/<peer pid>/stat.
//  - Windows (browser_bridge_windows.cc): the named pipe
//    \\.\pipe\reclaim-browser-<SID> (browser_address.h) whose DACL admits
//    only this user and SYSTEM; each peer's user is checked at accept and
//    attested by the pipe after its first bytes (only this user is served);
//    the browser is the host's parent process, past a cmd.exe
//    (browser_process.h).
// On both, the agent:
//  - keeps a page's path and title only as far as `web_detail` allows (the
//    administrator's --web-detail); anything more is removed and counted;
//  - re-validates every message (size, JSON shape, origin syntax); a
//    malformed, oversize or hostile message is dropped and counted, a stream
//    that is not framed is closed; nothing crashes the agent;
//  - reports each browser's latest state, and its disappearance when the
//    connection closes, to `on_state`.
//
// Owns its threads ("browser-bridge", and one "browser-host" per connection)
// between Start() and Stop(). Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "agent/browser/web_message.h"

namespace reclaim::agent {

/// Options; every field documents its default.
struct BrowserBridgeOptions {
  /// Linux: the socket path; Windows: the pipe name (required; main uses
  /// DefaultBrowserAddress(), browser_address.h).
  std::string socket_path;
  /// Most simultaneous host connections (one per browser profile). Default 32.
  int max_connections = 32;
  /// Linux: the /proc tree. Default "/proc".
  std::string proc_root = "/proc";
  /// Page details kept beyond the origin. Default: none (origin only).
  WebDetailPolicy web_detail;
};

/// Counters for status and tests.
struct BrowserBridgeStats {
  std::uint64_t connections = 0;      ///< Host connections accepted.
  std::uint64_t refused_peers = 0;    ///< Connections of another user (or too many).
  std::uint64_t messages = 0;         ///< Valid state messages.
  std::uint64_t malformed = 0;        ///< Messages dropped by validation.
  std::uint64_t oversize = 0;         ///< Frames over kMaxWebMessageBytes, dropped.
  std::uint64_t broken_streams = 0;   ///< Connections closed for bad framing.
  std::uint64_t details_dropped = 0;  ///< Paths and titles removed (not allowed by web_detail).
};

/// Called from the bridge's threads, one call at a time: browser
/// `browser_pid` has `state` (nullopt: its host disconnected).
using BrowserStateSink =
    std::function<void(std::int64_t browser_pid, const std::optional<WebBrowserState>& state)>;

class BrowserBridge {
 public:
  virtual ~BrowserBridge() = default;
  /// Stops the threads, closes every connection and removes the socket
  /// (Windows: the pipe goes with its last handle). Reports nothing.
  virtual void Stop() = 0;
  virtual BrowserBridgeStats stats() const = 0;
  virtual const std::string& socket_path() const = 0;
};

/// Binds the socket (replacing a stale one) or creates the pipe, and starts
/// the thread. Errors: kFailedPrecondition for an unsafe directory (Linux) or
/// a pipe name in use (Windows: another process has it); kInvalidArgument for
/// a bad path or name; kUnavailable / kPermissionDenied when the socket or
/// pipe cannot be created.
[[nodiscard]] absl::StatusOr<std::unique_ptr<BrowserBridge>> StartBrowserBridge(
    BrowserBridgeOptions options, BrowserStateSink on_state);

}  // namespace reclaim::agent
