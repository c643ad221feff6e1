// FocusSource: reports which application owns the foreground window.
//
// Linux/X11 implementation (focus_source_linux.cc): event driven with xcb. It
// watches `_NET_ACTIVE_WINDOW` on the root window (EWMH 1.5, "Root Window
// Properties": the window manager keeps it up to date) through PropertyNotify,
// maps the window to its process (X-Resource client ids, else `_NET_WM_PID`)
// and the process to an AppIdentity (proc_identity.h). No polling loop. It
// also tells whether the active window is full screen (on_fullscreen).
//
// Standard C++ only in this header (the Windows twin is built with mingw-w64).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/sources/event_sink.h"
#include "common/clock.h"

namespace reclaim::agent {

/// Options; every field documents its default.
struct FocusSourceOptions {
  /// X11 display name (":0"). Empty: found at each connection attempt among
  /// the local X servers that accept this user (x11_display.h). Default empty.
  std::string display;
  /// Read window titles (private; only when the administrator enabled
  /// sending them). Titles are sanitised to valid UTF-8, at most 1024 bytes.
  /// Default false.
  bool read_window_titles = false;
  /// Windows of these processes and of their direct children are never
  /// metered (the agent's own prompts; the Linux dialog is a zenity child):
  /// they are reported as "no foreground application". Default empty.
  std::vector<std::int64_t> excluded_pids;
  /// A foreground window of 0 (none) shorter than this is ignored: window
  /// managers such as openbox write 0 for 1-2 ms between two windows.
  /// Default 50 ms.
  std::chrono::milliseconds none_debounce{50};
  /// Reconnect backoff when the display is not there (or went away).
  /// Default 0.5 s doubling to 30 s.
  std::chrono::milliseconds reconnect_initial{500};
  std::chrono::milliseconds reconnect_max{30000};
  /// The /proc tree (tests point it at a fixture). Default "/proc".
  std::string proc_root = "/proc";
  /// Called on the source's thread when the foreground window enters or
  /// leaves full screen (X11: `_NET_WM_STATE_FULLSCREEN` in the active
  /// window's `_NET_WM_STATE`, EWMH 1.5 "Application Window Properties",
  /// read when the active window changes and on its PropertyNotify; false
  /// when no window is active or the display is gone). Must not block.
  /// Windows: not reported yet. Default none.
  std::function<void(bool fullscreen)> on_fullscreen;
};

/// Counters for status, tests and the footprint benchmark.
struct FocusSourceStats {
  std::uint64_t connects = 0;          ///< Successful connections to a display.
  std::uint64_t disconnects = 0;       ///< Connections lost.
  std::uint64_t focus_events = 0;      ///< kFocus events emitted.
  std::uint64_t vanished_windows = 0;  ///< Windows gone while being queried.
};

/// Owns one thread ("focus-x11"), started by Start() and joined by Stop().
/// Thread-safe.
class FocusSource {
 public:
  virtual ~FocusSource() = default;
  /// Starts watching; events go to `sink`. Never fails: while the display is
  /// unreachable the source retries with backoff and reports no focus.
  virtual void Start(EventSink sink) = 0;
  /// Stops and joins the thread. When a window had the focus, reports
  /// "no foreground application" at the time of the call first.
  virtual void Stop() = 0;
  virtual FocusSourceStats stats() const = 0;
};

/// The platform's focus source (X11 on Linux). `clock` must outlive it.
std::unique_ptr<FocusSource> MakeFocusSource(FocusSourceOptions options, const Clock& clock);

}  // namespace reclaim::agent
