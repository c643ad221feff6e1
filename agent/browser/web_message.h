// Messages of the Reclaim browser extension (agent/browser/extension) and
// their validation.
//
// The extension reports, per browser window, the origin of the active tab,
// and which window the browser last had in front. It sends one JSON object
// per change, through native messaging (reclaim-native-host), which forwards
// it over a local socket to the agent (browser_bridge.h):
//
//   {"v": 1, "type": "state", "focused": 12,
//    "windows": [{"id": 12, "origin": "https://na1.lightning.force.com"},
//                {"id": 15, "origin": null}]}
//
// `focused` is the window `windows.getLastFocused()` names (-1: none);
// `origin` is scheme://host[:port] of the window's active tab for http(s)
// pages, null otherwise (new tab page, about:, file:, extension pages). Paths,
// queries, full URLs and titles are never sent.
//
// Everything here is input from another program: each message is checked for
// size, JSON shape, types, ranges and origin syntax; anything else is refused
// with kInvalidArgument (the caller drops and counts it).
//
// Pure: no I/O. Thread-safe (no state).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace reclaim::agent {

/// Largest message accepted, bytes (a state of kMaxWindows windows with the
/// longest origins fits well within it).
inline constexpr std::size_t kMaxWebMessageBytes = 128 * 1024;
/// Most windows in one state message.
inline constexpr std::size_t kMaxWebWindows = 256;
/// Longest origin accepted, bytes ("https://" + 253-byte host + ":65535").
inline constexpr std::size_t kMaxOriginBytes = 8 + 253 + 6;

/// One browser window as the extension sees it.
struct WebWindowState {
  std::int64_t window_id = 0;
  /// Host of the active tab's origin, lower case, without scheme or port
  /// ("na1.lightning.force.com", "127.0.0.1", "[::1]"); empty when the tab
  /// shows no web site.
  std::string host;
  bool operator==(const WebWindowState&) const = default;
};

/// One browser's state: its windows and the one last in front.
struct WebBrowserState {
  /// Window id of the last focused window; -1 when none.
  std::int64_t focused_window = -1;
  std::vector<WebWindowState> windows;
  bool operator==(const WebBrowserState&) const = default;

  /// Host of the focused window's active tab; empty when unknown.
  std::string FocusedHost() const;
};

/// Parses and validates one message (the JSON text, without the length
/// prefix). Errors: kInvalidArgument naming the problem (oversize, not JSON,
/// wrong shape or types, unknown version or type, duplicate window id, bad
/// origin). The error text never contains the message's content.
[[nodiscard]] absl::StatusOr<WebBrowserState> ParseWebMessage(absl::string_view json);

/// Serialises `state` as a message ParseWebMessage accepts (origins are
/// written as "https://" + host: the agent needs the host only).
std::string SerializeWebMessage(const WebBrowserState& state);

/// The host of an origin "scheme://host[:port]": scheme http or https, host a
/// DNS name (labels of letters, digits, '-' and '_', 1-63 bytes, at most 253
/// in all; a trailing dot is removed), an IPv4 address or a bracketed IPv6
/// address; port 1-65535. No userinfo, path, query or fragment. Returns the
/// host in lower case. Errors: kInvalidArgument. (Syntax: RFC 6454 section 4,
/// RFC 3986 section 3.2.)
[[nodiscard]] absl::StatusOr<std::string> OriginHost(absl::string_view origin);

}  // namespace reclaim::agent
