// The Windows idle source under Wine (own Xvfb): with nobody at the keyboard
// the user becomes idle after the threshold, stamped at the last input;
// injected input (SendInput) makes them active again.
#include "agent/sources/idle_source.h"
#include "common/clock.h"
#include "gtest/gtest.h"
#include "tests/windows/wine_test_util.h"

namespace reclaim::agent::testing {
namespace {

using Kind = MeterEvent::Kind;
using std::chrono::milliseconds;
using std::chrono::seconds;

void MoveMouse() {
  INPUT in{};
  in.type = INPUT_MOUSE;
  in.mi.dx = 5;
  in.mi.dy = 5;
  in.mi.dwFlags = MOUSEEVENTF_MOVE;
  SendInput(1, &in, sizeof in);
}

TEST(IdleSourceWindowsTest, IdleAfterThresholdThenActiveOnInput) {
  SystemClock clock;
  EventQueue events;
  IdleSourceOptions options;
  options.threshold = milliseconds(500);
  MoveMouse();
  const MonoTime input = clock.Monotonic();
  std::unique_ptr<IdleSource> source = MakeIdleSource(options, clock);
  source->Start([&](const MeterEvent& e) { events.Push(e); });

  std::optional<MeterEvent> idle =
      events.WaitFor([](const MeterEvent& e) { return e.kind == Kind::kIdle; }, seconds(5));
  ASSERT_TRUE(idle);
  // Stamped at the last input (GetTickCount has ~16 ms resolution), not when noticed.
  EXPECT_LE(idle->at, input + milliseconds(100));
  EXPECT_GE(clock.Monotonic() - idle->at, milliseconds(450));

  const MonoTime before = clock.Monotonic();
  MoveMouse();
  std::optional<MeterEvent> active =
      events.WaitFor([](const MeterEvent& e) { return e.kind == Kind::kActive; }, seconds(5));
  ASSERT_TRUE(active) << "injected input did not end the idle period";
  EXPECT_GE(active->at, before - milliseconds(50));
  source->Stop();
  const IdleSourceStats stats = source->stats();
  EXPECT_EQ(stats.idle_events, 1u);
  EXPECT_EQ(stats.active_events, 1u);
}

}  // namespace
}  // namespace reclaim::agent::testing
