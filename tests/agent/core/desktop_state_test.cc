// DesktopStateTracker: idle/lock/suspend events and full screen become the
// prompt policy's DesktopState, each change calls on_change once, and the
// do-not-disturb override wins over the desktop's probe.
#include "agent/core/desktop_state.h"

#include <gtest/gtest.h>

namespace reclaim::agent {
namespace {

MeterEvent Ev(MeterEvent::Kind k) { return {.kind = k, .at = MonoTime{0}, .app = std::nullopt}; }

TEST(DesktopStateTest, EventsBecomeTheDesktopState) {
  int changes = 0;
  DesktopStateTracker t({.do_not_disturb = DoNotDisturbMode::kAuto,
                         .do_not_disturb_probe = {},
                         .on_change = [&changes] { ++changes; }});
  EXPECT_FALSE(t.Get().idle);
  t.Observe(Ev(MeterEvent::Kind::kIdle));
  EXPECT_TRUE(t.Get().idle);
  t.Observe(Ev(MeterEvent::Kind::kIdle));  // no change, no call
  EXPECT_EQ(changes, 1);
  t.Observe(Ev(MeterEvent::Kind::kActive));
  EXPECT_FALSE(t.Get().idle);
  t.Observe(Ev(MeterEvent::Kind::kLock));
  EXPECT_TRUE(t.Get().locked);
  t.Observe(Ev(MeterEvent::Kind::kUnlock));
  t.Observe(Ev(MeterEvent::Kind::kSuspend));
  EXPECT_TRUE(t.Get().locked) << "a suspended machine shows nobody a prompt";
  t.Observe(Ev(MeterEvent::Kind::kResume));
  EXPECT_FALSE(t.Get().locked);
  t.Observe(Ev(MeterEvent::Kind::kFocus));  // not a desktop state
  t.SetFullscreen(true);
  EXPECT_TRUE(t.Get().fullscreen);
  t.SetFullscreen(true);
  t.SetFullscreen(false);
  EXPECT_FALSE(t.Get().fullscreen);
  EXPECT_EQ(changes, 8);
}

TEST(DesktopStateTest, DoNotDisturbOverrideWinsOverTheProbe) {
  int probes = 0;
  auto probe = [&probes]() -> std::optional<bool> {
    ++probes;
    return true;
  };
  EXPECT_TRUE(DesktopStateTracker({.do_not_disturb = DoNotDisturbMode::kAuto,
                                   .do_not_disturb_probe = probe, .on_change = {}})
                  .DoNotDisturb());
  EXPECT_FALSE(DesktopStateTracker({.do_not_disturb = DoNotDisturbMode::kOff,
                                    .do_not_disturb_probe = probe, .on_change = {}})
                   .DoNotDisturb());
  EXPECT_EQ(probes, 1) << "an override never asks the desktop";
  // On: also in the cheap state (Get never asks the desktop).
  EXPECT_TRUE(DesktopStateTracker({.do_not_disturb = DoNotDisturbMode::kOn,
                                   .do_not_disturb_probe = {}, .on_change = {}})
                  .Get()
                  .do_not_disturb);
  DesktopStateTracker auto_mode({.do_not_disturb = DoNotDisturbMode::kAuto,
                                 .do_not_disturb_probe = probe, .on_change = {}});
  EXPECT_FALSE(auto_mode.Get().do_not_disturb);
  EXPECT_EQ(probes, 1) << "Get() asked the desktop";
  // Unknown (nobody answered) is off.
  EXPECT_FALSE(DesktopStateTracker({.do_not_disturb = DoNotDisturbMode::kAuto,
                                    .do_not_disturb_probe = [] { return std::optional<bool>(); },
                                    .on_change = {}})
                   .DoNotDisturb());
}

}  // namespace
}  // namespace reclaim::agent
