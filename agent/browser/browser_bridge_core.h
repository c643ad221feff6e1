// The platform-neutral half of the browser bridge (browser_bridge.h): what
// happens to the bytes of one reclaim-native-host connection, whatever the
// transport (browser_bridge_linux.cc: a Unix socket; browser_bridge_windows.cc:
// a named pipe). It splits them into frames, validates each message against
// the administrator's web_detail, counts what it drops and reports each
// browser's state (and its disappearance) to the sink.
//
// Thread-safe: connections may be served on different threads; sink calls
// never overlap (they are serialised by the core).
#pragma once

#include <cstdint>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "agent/browser/browser_bridge.h"
#include "agent/browser/frame_reader.h"

namespace reclaim::agent {

/// A length above this is not a message we would ever skip: the stream is
/// not framed (or hostile) and the connection is closed. Bytes.
inline constexpr std::size_t kMaxSkippableBrowserFrame = 1 << 20;

/// One host connection, owned by the twin that serves it.
struct BridgeConnection {
  /// The browser process that started the host (0 if unknown).
  std::int64_t browser_pid = 0;
  FrameReader reader{kMaxWebMessageBytes, kMaxSkippableBrowserFrame};
  /// A state was reported for it (its end is then reported too).
  bool reported = false;
};

class BridgeCore {
 public:
  BridgeCore(WebDetailPolicy web_detail, BrowserStateSink on_state)
      : web_detail_(web_detail), on_state_(std::move(on_state)) {}

  /// Handles `bytes` read from `conn`: every complete frame is validated,
  /// counted and, when valid, reported. False when the stream is not framed
  /// (counted in broken_streams; the caller closes the connection and
  /// calls Closed()).
  bool Received(BridgeConnection* conn, absl::string_view bytes);
  /// The connection ended: its browser is reported gone if it reported a
  /// state.
  void Closed(BridgeConnection* conn);

  /// Adds one to a counter.
  void Count(std::uint64_t BrowserBridgeStats::*field);
  BrowserBridgeStats stats() const;

 private:
  void Report(std::int64_t browser_pid, const std::optional<WebBrowserState>& state);

  const WebDetailPolicy web_detail_;
  const BrowserStateSink on_state_;
  mutable absl::Mutex mu_;
  BrowserBridgeStats stats_ ABSL_GUARDED_BY(mu_);
  absl::Mutex sink_mu_;  // one sink call at a time
};

}  // namespace reclaim::agent
