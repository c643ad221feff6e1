// IdleTracker: the pure core of the Windows idle source (idle_source_windows.cc).
//
// Windows reports the time of the last input as a 32-bit tick count
// (GetLastInputInfo, LASTINPUTINFO::dwTime) and the current time as another
// (GetTickCount). Both wrap every 2^32 ms (49.7 days), so the time since the
// last input is their difference modulo 2^32 (TicksSince), which is right
// across the wrap as long as the user was idle for less than 49.7 days.
// (https://learn.microsoft.com/windows/win32/api/winuser/nf-winuser-getlastinputinfo)
//
// The tracker turns (monotonic now, tick now, last-input tick) observations
// into kIdle / kActive events stamped at the last input, and tells the caller
// when to look again: while active, exactly when the threshold would pass;
// while idle, after `idle_recheck` (Windows has no "input happened"
// notification short of a low-level input hook in every session).
//
// Standard C++ only. Not thread-safe: owned by the idle source's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "agent/meter/meter.h"
#include "common/clock.h"

namespace reclaim::agent {

/// Milliseconds from tick `earlier` to tick `now`, modulo 2^32: correct across
/// the 49.7-day wrap of 32-bit tick counts (0xFFFFFF00 -> 0x10 is 272 ms).
constexpr std::uint32_t TicksSince(std::uint32_t earlier, std::uint32_t now) {
  return static_cast<std::uint32_t>(now - earlier);
}

/// Options; every field documents its default.
struct IdleTrackerOptions {
  /// No input for this long makes the user idle. Default 300 s.
  std::chrono::milliseconds threshold{300000};
  /// While idle, how often to look for new input. Default 1 s.
  std::chrono::milliseconds idle_recheck{1000};
};

class IdleTracker {
 public:
  explicit IdleTracker(IdleTrackerOptions options) : options_(options) {}

  struct Result {
    /// kIdle (at = the last input) or kActive (at = the new input), if the
    /// state changed.
    std::optional<MeterEvent> event;
    /// When to observe again, > 0.
    std::chrono::milliseconds next_check{0};
  };

  /// One observation: `mono_now` on the agent's monotonic clock, `tick_now`
  /// = GetTickCount(), `last_input_tick` = LASTINPUTINFO::dwTime, both ms.
  Result Observe(MonoTime mono_now, std::uint32_t tick_now, std::uint32_t last_input_tick);

  bool idle() const { return idle_; }

 private:
  IdleTrackerOptions options_;
  bool idle_ = false;
  // The last-input tick when the user went idle: any other value is new input.
  std::uint32_t idle_input_tick_ = 0;
};

}  // namespace reclaim::agent
