// Windows do-not-disturb probe (do_not_disturb.h): SHQueryUserNotificationState
// (https://learn.microsoft.com/windows/win32/api/shellapi/nf-shellapi-shqueryusernotificationstate),
// the state Windows itself consults before showing a notification. It has
// no value for Focus Assist's rules (quiet hours, priority only); it does
// report a full-screen application, a Direct3D game, presentation mode and
// the first hour after a user's first logon, during which a prompt would
// interrupt just as a notification would. DoNotDisturbOptions' D-Bus and
// gsettings fields do not apply here.
#define NOMINMAX
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
// After windows.h:
#include <shellapi.h>

#include "agent/sources/do_not_disturb.h"

namespace reclaim::agent {
namespace {

// QUNS_APP (Windows 8 and later): shellapi.h declares it only for
// _WIN32_WINNT >= 0x0602; the layer targets Windows 7 (0x0601).
constexpr int kQunsApp = 7;

class WindowsDoNotDisturbProbe final : public DoNotDisturbProbe {
 public:
  std::optional<bool> Query() override {
    QUERY_USER_NOTIFICATION_STATE state{};
    if (FAILED(SHQueryUserNotificationState(&state))) return std::nullopt;
    return DoNotDisturbFromNotificationState(static_cast<int>(state));
  }
};

}  // namespace

std::optional<bool> DoNotDisturbFromNotificationState(int state) {
  switch (state) {
    case QUNS_BUSY:                     // a full-screen application
    case QUNS_RUNNING_D3D_FULL_SCREEN:  // a full-screen Direct3D application
    case QUNS_PRESENTATION_MODE:        // "presentation settings" on
    case QUNS_QUIET_TIME:               // the first hour after a first logon
    case kQunsApp:                      // a full-screen Store app
      return true;
    case QUNS_ACCEPTS_NOTIFICATIONS:
      return false;
    default:  // QUNS_NOT_PRESENT (no interactive desktop: locked, switching) and unknown values
      return std::nullopt;
  }
}

std::unique_ptr<DoNotDisturbProbe> MakeDoNotDisturbProbe(DoNotDisturbOptions) {
  return std::make_unique<WindowsDoNotDisturbProbe>();
}

}  // namespace reclaim::agent
