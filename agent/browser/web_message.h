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
// pages, null otherwise (new tab page, about:, file:, extension pages).
// Queries, fragments and full URLs are never sent. Only when the
// administrator enabled them (the extension's managed storage, see
// agent/browser/extension/managed_schema.json) the focused window may also
// carry its active tab's URL path and page title:
//
//   {"id": 12, "origin": "https://na1.lightning.force.com",
//    "path": "/lightning/r/Account/001", "title": "Acme | Salesforce"}
//
// The agent keeps them only when its own configuration allows them too
// (WebDetailPolicy, agent option --web-detail); otherwise they are removed
// and counted, so a tampered extension cannot send more than the
// administrator allowed.
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

/// Longest URL path accepted, bytes (a longer one refuses the message; the
/// extension cuts paths to this length).
inline constexpr std::size_t kMaxWebPathBytes = 2048;
/// Longest page title kept, bytes (longer titles are cut at a character
/// boundary; ill-formed UTF-8 is replaced by U+FFFD).
inline constexpr std::size_t kMaxWebTitleBytes = 1024;

/// Which page details, beyond the origin, a receiver keeps. Default: none
/// (the origin only). Set by the administrator (agent --web-detail).
struct WebDetailPolicy {
  /// Keep the active tab's URL path. Default false.
  bool path = false;
  /// Keep the active tab's page title. Default false.
  bool title = false;
  bool operator==(const WebDetailPolicy&) const = default;
};

/// Parses the agent option --web-detail: "origin" (default), "path",
/// "title" or "path+title". Errors: kInvalidArgument.
[[nodiscard]] absl::StatusOr<WebDetailPolicy> ParseWebDetailPolicy(absl::string_view text);

/// One browser window as the extension sees it.
struct WebWindowState {
  std::int64_t window_id = 0;
  /// Host of the active tab's origin, lower case, without scheme or port
  /// ("na1.lightning.force.com", "127.0.0.1", "[::1]"); empty when the tab
  /// shows no web site.
  std::string host;
  /// URL path of the active tab ("/lightning/r/Account/001"; printable
  /// ASCII, starts with '/', no query or fragment, at most kMaxWebPathBytes);
  /// empty unless the administrator enabled paths.
  std::string path;
  /// Page title of the active tab (valid UTF-8, at most kMaxWebTitleBytes);
  /// empty unless the administrator enabled titles.
  std::string title;
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
  /// The focused window; nullptr when none is known.
  const WebWindowState* Focused() const;
};

/// The page detail of a window as one text, carried in the focus interval's
/// window-title field (never part of the aggregation key "web:<host>"):
/// "<path> <title>", either alone when the other is empty (a path holds no
/// space), cut to kMaxWebTitleBytes. Empty when both are empty.
std::string WebPageDetail(const WebWindowState& window);

/// Parses and validates one message (the JSON text, without the length
/// prefix). Paths and titles are validated (type, path syntax and size), then
/// kept only as far as `accept` allows; each one removed adds 1 to
/// `*details_dropped` (when not null). Errors: kInvalidArgument naming the
/// problem (oversize, not JSON, wrong shape or types, unknown version or
/// type, duplicate window id, bad origin, bad or oversize path). The error
/// text never contains the message's content.
[[nodiscard]] absl::StatusOr<WebBrowserState> ParseWebMessage(
    absl::string_view json, const WebDetailPolicy& accept = {},
    std::uint64_t* details_dropped = nullptr);

/// Serialises `state` as a message ParseWebMessage accepts (origins are
/// written as "https://" + host: the agent needs the host only; a non-empty
/// path or title is written too).
std::string SerializeWebMessage(const WebBrowserState& state);

/// The host of an origin "scheme://host[:port]": scheme http or https, host a
/// DNS name (labels of letters, digits, '-' and '_', 1-63 bytes, at most 253
/// in all; a trailing dot is removed), an IPv4 address or a bracketed IPv6
/// address; port 1-65535. No userinfo, path, query or fragment. Returns the
/// host in lower case. Errors: kInvalidArgument. (Syntax: RFC 6454 section 4,
/// RFC 3986 section 3.2.)
[[nodiscard]] absl::StatusOr<std::string> OriginHost(absl::string_view origin);

}  // namespace reclaim::agent
