// The Windows do-not-disturb probe (agent/sources/do_not_disturb_windows.cc):
// the mapping of every QUERY_USER_NOTIFICATION_STATE, and the real call.
#define NOMINMAX
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
// After windows.h:
#include <shellapi.h>

#include "agent/sources/do_not_disturb.h"
#include "gtest/gtest.h"

namespace reclaim::agent {
namespace {

TEST(DoNotDisturbWindowsTest, NotificationStates) {
  EXPECT_EQ(DoNotDisturbFromNotificationState(QUNS_ACCEPTS_NOTIFICATIONS), false);
  EXPECT_EQ(DoNotDisturbFromNotificationState(QUNS_BUSY), true);
  EXPECT_EQ(DoNotDisturbFromNotificationState(QUNS_RUNNING_D3D_FULL_SCREEN), true);
  EXPECT_EQ(DoNotDisturbFromNotificationState(QUNS_PRESENTATION_MODE), true);
  EXPECT_EQ(DoNotDisturbFromNotificationState(QUNS_QUIET_TIME), true);
  EXPECT_EQ(DoNotDisturbFromNotificationState(7), true);  // QUNS_APP (Windows 8+)
  EXPECT_EQ(DoNotDisturbFromNotificationState(QUNS_NOT_PRESENT), std::nullopt);
  EXPECT_EQ(DoNotDisturbFromNotificationState(0), std::nullopt);
  EXPECT_EQ(DoNotDisturbFromNotificationState(99), std::nullopt);
}

// The real call agrees with the mapping of what the shell says now.
TEST(DoNotDisturbWindowsTest, ProbeAsksTheShell) {
  QUERY_USER_NOTIFICATION_STATE state{};
  const HRESULT hr = SHQueryUserNotificationState(&state);
  auto probe = MakeDoNotDisturbProbe({});
  ASSERT_NE(probe, nullptr);
  if (SUCCEEDED(hr)) {
    EXPECT_EQ(probe->Query(), DoNotDisturbFromNotificationState(static_cast<int>(state)));
  } else {
    EXPECT_EQ(probe->Query(), std::nullopt);
  }
}

}  // namespace
}  // namespace reclaim::agent
