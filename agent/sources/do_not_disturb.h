// DoNotDisturbProbe: whether the desktop's do-not-disturb mode is on, asked
// by the prompt policy before a not-urgent prompt is shown.
//
// Linux (do_not_disturb_linux.cc), in this order, the first that answers:
//  1. the `Inhibited` property of org.freedesktop.Notifications on the
//     session bus (Desktop Notifications Specification 1.2+: true while
//     notifications are suppressed, e.g. KDE Plasma's do-not-disturb);
//  2. GNOME's `show-banners` setting (`gsettings get
//     org.gnome.desktop.notifications show-banners`: false is GNOME's
//     do-not-disturb; GNOME Shell does not implement `Inhibited`).
// Neither answering is "unknown" (treated as off). An administrator can
// override both (agent flag --do-not-disturb on|off). There is no change
// event common to both, so the prompt service asks at decision time only
// (when a not-urgent prompt waits), never in a loop of its own.
//
// Windows (do_not_disturb_windows.cc): SHQueryUserNotificationState, which
// Windows consults before a notification: a full-screen application, a
// Direct3D game, presentation mode or quiet time count as on (Focus Assist's
// own rules are not visible through it).
//
// Standard C++ only in this header.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace reclaim::agent {

/// Options; every field documents its default.
struct DoNotDisturbOptions {
  /// D-Bus address of the session bus (main.cc passes
  /// $DBUS_SESSION_BUS_ADDRESS). Empty: the Notifications property is not
  /// asked (no bus autolaunch). Default empty.
  std::string session_bus_address;
  /// The gsettings program; empty: GNOME's setting is not asked. Default
  /// "gsettings" (searched in PATH).
  std::string gsettings = "gsettings";
  /// Longest wait for the D-Bus answer. Default 500 ms.
  std::chrono::milliseconds call_timeout{500};
};

/// Thread-safe; Query() blocks for at most about `call_timeout` plus one
/// gsettings run.
class DoNotDisturbProbe {
 public:
  virtual ~DoNotDisturbProbe() = default;
  /// true: on; false: off; nullopt: nobody answered.
  virtual std::optional<bool> Query() = 0;
};

std::unique_ptr<DoNotDisturbProbe> MakeDoNotDisturbProbe(DoNotDisturbOptions options);

/// Windows: do-not-disturb for a QUERY_USER_NOTIFICATION_STATE value (1-7,
/// shellapi.h): true for QUNS_BUSY, QUNS_RUNNING_D3D_FULL_SCREEN,
/// QUNS_PRESENTATION_MODE, QUNS_QUIET_TIME and QUNS_APP, false for
/// QUNS_ACCEPTS_NOTIFICATIONS, nullopt for QUNS_NOT_PRESENT and unknown values.
/// Defined in do_not_disturb_windows.cc only.
std::optional<bool> DoNotDisturbFromNotificationState(int state);

}  // namespace reclaim::agent
