#include "agent/sources/suspend_detector.h"

#include "gtest/gtest.h"

namespace reclaim::agent {
namespace {

using std::chrono::milliseconds;

TEST(SuspendDetectorTest, FirstCallSetsBaseline) {
  SuspendDetector d;
  EXPECT_TRUE(d.Observe(MonoTime(100000), MonoTime(50000)).empty());
  EXPECT_TRUE(d.Observe(MonoTime(160000), MonoTime(110000)).empty());  // awake 60 s
}

TEST(SuspendDetectorTest, BootClockAheadIsASuspendEndingNow) {
  SuspendDetector d;
  d.Observe(MonoTime(100000), MonoTime(50000));
  // 10 s awake, then 3600 s asleep: boot +3610 s, awake +10 s.
  auto ev = d.Observe(MonoTime(100000 + 3610000), MonoTime(60000));
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, MeterEvent::Kind::kSuspend);
  EXPECT_EQ(ev[0].at, MonoTime(100000 + 10000));
  EXPECT_EQ(ev[1].kind, MeterEvent::Kind::kResume);
  EXPECT_EQ(ev[1].at, MonoTime(100000 + 3610000));
  // The same suspend is not reported again.
  EXPECT_TRUE(d.Observe(MonoTime(100000 + 3620000), MonoTime(70000)).empty());
}

TEST(SuspendDetectorTest, NoiseNeverAccumulates) {
  SuspendDetector d(milliseconds(2000));
  d.Observe(MonoTime(0), MonoTime(0));
  // +1 ms of read noise a thousand times is not a suspend.
  for (int i = 1; i <= 1000; ++i) {
    EXPECT_TRUE(d.Observe(MonoTime(i * 1000 + 1), MonoTime(i * 1000)).empty());
  }
  EXPECT_EQ(d.Observe(MonoTime(1001000 + 5000), MonoTime(1001000)).size(), 2u);
}

TEST(SuspendDetectorTest, RebaseForgetsAReportedSuspend) {
  SuspendDetector d;
  d.Observe(MonoTime(0), MonoTime(0));
  d.Rebase();  // logind reported this one
  EXPECT_TRUE(d.Observe(MonoTime(500000), MonoTime(1000)).empty());
}

}  // namespace
}  // namespace reclaim::agent
