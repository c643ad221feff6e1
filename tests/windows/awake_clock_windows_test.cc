// ReadAwakeClock() on Windows (suspend_detector_windows.cc): while the
// machine is awake it runs with the agent's monotonic clock, so the
// SuspendDetector sees no gap.
#include <thread>

#include "agent/sources/suspend_detector.h"
#include "common/clock.h"
#include "gtest/gtest.h"

namespace reclaim::agent {
namespace {

TEST(AwakeClockWindowsTest, RunsWithTheMonotonicClockWhileAwake) {
  SystemClock clock;
  SuspendDetector detector;
  EXPECT_TRUE(detector.Observe(clock.Monotonic(), ReadAwakeClock()).empty());
  const MonoTime a0 = ReadAwakeClock();
  const MonoTime m0 = clock.Monotonic();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // real time must pass
  const MonoTime a1 = ReadAwakeClock();
  const MonoTime m1 = clock.Monotonic();
  EXPECT_GE(a1 - a0, std::chrono::milliseconds(250));
  EXPECT_LE((a1 - a0) - (m1 - m0), std::chrono::milliseconds(100));
  EXPECT_GE((a1 - a0) - (m1 - m0), std::chrono::milliseconds(-100));
  EXPECT_TRUE(detector.Observe(m1, a1).empty());
}

}  // namespace
}  // namespace reclaim::agent
