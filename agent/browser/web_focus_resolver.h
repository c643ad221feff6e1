// WebFocusResolver: turns "a browser window is in front" into "this web site
// is in front".
//
// It sits between the platform focus source and the metering loop. The focus
// source (X11 `_NET_ACTIVE_WINDOW`) decides WHEN a browser is in front, the
// browser extension says WHICH site: per browser window the origin of its
// active tab, and which browser window was last focused
// (`windows.getLastFocused()`). The two are joined by process:
//
//   foreground window's owner pid (X-Resource / _NET_WM_PID)
//     == parent of the reclaim-native-host that reported the state
//        (the browser starts the host itself; the agent learns the host's
//        pid from the socket's SO_PEERCRED and reads its parent from /proc).
//
// This is dependable on Linux because Chromium and Firefox own their top-level
// X11 windows in the browser (parent) process, which is also the process that
// launches native messaging hosts. Within one browser the window last focused
// according to the extension is the one in front: Chromium on X11 reports
// focus changes between its own windows correctly but not focus loss to
// another application (RECIPES.md), which the X11 source covers.
//
// While a browser window is in front and its active tab shows an http(s)
// site, the focused identity is the browser's identity with `web_domain` set
// to the site's host (the collector shows it as "web:<host>"), and, when the
// administrator allowed page details (--web-detail) and the extension sent
// them, `window_title` set to WebPageDetail (path and/or page title);
// otherwise the browser's own identity. Idle, lock and suspend events pass through
// unchanged, so they apply to web sites exactly as to desktop applications.
//
// Thread-safe: OnFocusEvent/OnBrowserState may be called from any thread; the
// downstream sink is called under the resolver's lock (it must not call back).
#pragma once

#include <cstdint>
#include <map>
#include <optional>

#include "absl/synchronization/mutex.h"
#include "agent/browser/web_message.h"
#include "agent/meter/meter.h"
#include "agent/sources/event_sink.h"
#include "common/clock.h"

namespace reclaim::agent {

/// Counters for status and tests.
struct WebFocusStats {
  std::uint64_t browser_updates = 0;  ///< States received from browsers.
  std::uint64_t web_focus_events = 0; ///< Focus events emitted with a web site.
};

class WebFocusResolver {
 public:
  /// `downstream` receives every event (focus events rewritten as above);
  /// `clock` stamps focus changes caused by a browser update. Both must
  /// outlive the resolver.
  WebFocusResolver(EventSink downstream, const Clock& clock)
      : downstream_(std::move(downstream)), clock_(clock) {}

  /// The sink for the platform sources.
  EventSink sink() {
    return [this](const MeterEvent& e) { OnEvent(e); };
  }

  /// Any source event. kFocus events are rewritten, others pass through.
  void OnEvent(const MeterEvent& event);

  /// A browser (the process `browser_pid`) reported `state`; nullopt when
  /// its extension disconnected (its windows are unknown from now on).
  void OnBrowserState(std::int64_t browser_pid, const std::optional<WebBrowserState>& state);

  WebFocusStats stats() const;

 private:
  // Emits the focus identity for the current X11 focus and browser states,
  // if it differs from the last one emitted.
  void EmitLocked(MonoTime at) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const EventSink downstream_;
  const Clock& clock_;
  mutable absl::Mutex mu_;
  std::optional<AppIdentity> x11_app_ ABSL_GUARDED_BY(mu_);
  std::int64_t x11_pid_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::int64_t, WebBrowserState> browsers_ ABSL_GUARDED_BY(mu_);
  // What the meter was last told; unset before the first focus event.
  std::optional<std::optional<AppIdentity>> emitted_ ABSL_GUARDED_BY(mu_);
  WebFocusStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace reclaim::agent
