// IdleTracker (agent/sources/idle_tracker.h) with injected tick values,
// including the 49.7-day wrap of 32-bit tick counts. Built and run on Linux
// and, built with mingw-w64, under Wine.
#include "agent/sources/idle_tracker.h"

#include <chrono>
#include <cstdint>

#include "gtest/gtest.h"

namespace reclaim::agent {
namespace {

using std::chrono::milliseconds;
using Kind = MeterEvent::Kind;

TEST(TicksSinceTest, AcrossTheWrap) {
  EXPECT_EQ(TicksSince(0xFFFFFF00u, 0x10u), 272u);
  EXPECT_EQ(TicksSince(0xFFFFFFFFu, 0u), 1u);
  EXPECT_EQ(TicksSince(100u, 100u), 0u);
  EXPECT_EQ(TicksSince(100u, 350u), 250u);
  static_assert(TicksSince(0xFFFFFF00u, 0x10u) == 272u);
}

TEST(IdleTrackerTest, ActiveUntilThresholdThenIdleAtLastInput) {
  IdleTracker t({milliseconds(300000), milliseconds(1000)});
  // 100 s since the last input: active, look again in 200 s.
  auto r = t.Observe(MonoTime{1000000}, 500000u, 400000u);
  EXPECT_FALSE(r.event);
  EXPECT_EQ(r.next_check, milliseconds(200000));
  // 300 s since: idle, stamped at the last input (mono 1,200,000 - 300,000).
  r = t.Observe(MonoTime{1200000}, 700000u, 400000u);
  ASSERT_TRUE(r.event);
  EXPECT_EQ(r.event->kind, Kind::kIdle);
  EXPECT_EQ(r.event->at, MonoTime{900000});
  EXPECT_EQ(r.next_check, milliseconds(1000));
  EXPECT_TRUE(t.idle());
  // Still no input.
  r = t.Observe(MonoTime{1201000}, 701000u, 400000u);
  EXPECT_FALSE(r.event);
  // Input 250 ms before the observation: active at that input.
  r = t.Observe(MonoTime{1202000}, 702000u, 701750u);
  ASSERT_TRUE(r.event);
  EXPECT_EQ(r.event->kind, Kind::kActive);
  EXPECT_EQ(r.event->at, MonoTime{1201750});
  EXPECT_EQ(r.next_check, milliseconds(299750));
  EXPECT_FALSE(t.idle());
}

TEST(IdleTrackerTest, LastInputJustBeforeTheWrapNowAfterIt) {
  IdleTracker t({milliseconds(1000), milliseconds(1000)});
  // Last input 0xFFFFFF00, now 0x10: 272 ms, not 49.7 days: still active.
  auto r = t.Observe(MonoTime{5000}, 0x10u, 0xFFFFFF00u);
  EXPECT_FALSE(r.event);
  EXPECT_EQ(r.next_check, milliseconds(1000 - 272));
  // 1000 ms after the input, across the wrap: idle at mono 5000 - 272.
  r = t.Observe(MonoTime{5728}, 0x10u + 728u, 0xFFFFFF00u);
  ASSERT_TRUE(r.event);
  EXPECT_EQ(r.event->kind, Kind::kIdle);
  EXPECT_EQ(r.event->at, MonoTime{5000 - 272});
}

TEST(IdleTrackerTest, IdleAcrossTheWrapThenInputAfterIt) {
  IdleTracker t({milliseconds(1000), milliseconds(1000)});
  auto r = t.Observe(MonoTime{10000}, 0xFFFFFFF0u, 0xFFFFF000u);  // 4080 ms: idle
  ASSERT_TRUE(r.event);
  EXPECT_EQ(r.event->at, MonoTime{10000 - 4080});
  // The tick count wraps; new input at tick 0x20, observed at 0x30.
  r = t.Observe(MonoTime{10064}, 0x30u, 0x20u);
  ASSERT_TRUE(r.event);
  EXPECT_EQ(r.event->kind, Kind::kActive);
  EXPECT_EQ(r.event->at, MonoTime{10064 - 16});
}

TEST(IdleTrackerTest, InputAlreadyOlderThanThresholdLooksAgainAtOnce) {
  IdleTracker t({milliseconds(1000), milliseconds(1000)});
  ASSERT_TRUE(t.Observe(MonoTime{3000}, 3000u, 1000u).event);  // idle
  // Input at 1500 (after going idle at 1000), observed only at 4000.
  auto r = t.Observe(MonoTime{4000}, 4000u, 1500u);
  ASSERT_TRUE(r.event);
  EXPECT_EQ(r.event->kind, Kind::kActive);
  EXPECT_EQ(r.event->at, MonoTime{1500});
  EXPECT_EQ(r.next_check, milliseconds(1));
  r = t.Observe(MonoTime{4001}, 4001u, 1500u);
  ASSERT_TRUE(r.event);
  EXPECT_EQ(r.event->kind, Kind::kIdle);
  EXPECT_EQ(r.event->at, MonoTime{1500});
}

}  // namespace
}  // namespace reclaim::agent
