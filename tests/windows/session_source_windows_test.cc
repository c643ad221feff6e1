// The Windows session source under Wine: the session notifications a real
// Windows sends (Wine sends none) are delivered to the source's window as
// Windows would, and become lock/unlock/suspend/resume events.
#ifndef NOMINMAX
#define NOMINMAX
#endif
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
// After windows.h:
#include <wtsapi32.h>

#include "agent/sources/session_source.h"
#include "common/clock.h"
#include "gtest/gtest.h"
#include "tests/windows/wine_test_util.h"

namespace reclaim::agent::testing {
namespace {

using Kind = MeterEvent::Kind;
using std::chrono::seconds;

class SessionSourceWindowsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = MakeSessionSource(SessionSourceOptions{}, clock_);
    source_->Start([this](const MeterEvent& e) { events_.Push(e); });
    window_ = FindWindowW(L"ReclaimSessionSource", nullptr);
    ASSERT_NE(window_, nullptr);
  }
  void TearDown() override { source_->Stop(); }

  Kind Next() {
    std::optional<MeterEvent> e = events_.WaitFor([](const MeterEvent&) { return true; }, seconds(5));
    EXPECT_TRUE(e);
    return e ? e->kind : Kind::kFocus;
  }
  bool NothingMore() {
    return !events_.WaitFor([](const MeterEvent&) { return true; }, std::chrono::milliseconds(100));
  }

  ManualClock clock_{MonoTime{5000}, 0};
  EventQueue events_;
  std::unique_ptr<SessionSource> source_;
  HWND window_ = nullptr;
};

TEST_F(SessionSourceWindowsTest, LockAndUnlock) {
  SendMessageW(window_, WM_WTSSESSION_CHANGE, WTS_SESSION_LOCK, 1);
  EXPECT_EQ(Next(), Kind::kLock);
  SendMessageW(window_, WM_WTSSESSION_CHANGE, WTS_SESSION_UNLOCK, 1);
  EXPECT_EQ(Next(), Kind::kUnlock);
  SendMessageW(window_, WM_WTSSESSION_CHANGE, WTS_REMOTE_DISCONNECT, 1);
  EXPECT_EQ(Next(), Kind::kLock);
  SendMessageW(window_, WM_WTSSESSION_CHANGE, WTS_REMOTE_CONNECT, 1);
  EXPECT_EQ(Next(), Kind::kUnlock);
  SendMessageW(window_, WM_WTSSESSION_CHANGE, WTS_SESSION_LOGON, 1);  // ignored
  EXPECT_TRUE(NothingMore());
  EXPECT_EQ(source_->stats().lock_events, 4u);
}

TEST_F(SessionSourceWindowsTest, SuspendAndOneResume) {
  EXPECT_EQ(SendMessageW(window_, WM_POWERBROADCAST, PBT_APMSUSPEND, 0), TRUE);
  EXPECT_EQ(Next(), Kind::kSuspend);
  // Windows sends both after a user-initiated wake: one kResume.
  SendMessageW(window_, WM_POWERBROADCAST, PBT_APMRESUMEAUTOMATIC, 0);
  SendMessageW(window_, WM_POWERBROADCAST, PBT_APMRESUMESUSPEND, 0);
  EXPECT_EQ(Next(), Kind::kResume);
  EXPECT_TRUE(NothingMore());
  EXPECT_EQ(source_->stats().sleep_events, 2u);
}

TEST_F(SessionSourceWindowsTest, LogoffEndsMetering) {
  EXPECT_EQ(SendMessageW(window_, WM_QUERYENDSESSION, 0, ENDSESSION_LOGOFF), TRUE);
  SendMessageW(window_, WM_ENDSESSION, TRUE, ENDSESSION_LOGOFF);
  EXPECT_EQ(Next(), Kind::kLock);
}

TEST_F(SessionSourceWindowsTest, EventsAreStampedWithTheClock) {
  clock_.Advance(std::chrono::milliseconds(1234));
  SendMessageW(window_, WM_WTSSESSION_CHANGE, WTS_SESSION_LOCK, 1);
  std::optional<MeterEvent> e = events_.WaitFor([](const MeterEvent&) { return true; }, seconds(5));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->at, MonoTime{6234});
}

}  // namespace
}  // namespace reclaim::agent::testing
