// SuspendDetector: finds suspends without D-Bus, from two clocks.
//
// CLOCK_BOOTTIME (the agent's monotonic clock, common/clock.h) keeps counting
// while the machine sleeps; CLOCK_MONOTONIC does not (clock_gettime(2)). Their
// difference therefore grows by exactly the time spent suspended. Observe()
// compares it with the previous observation: a growth of at least `min_gap`
// is reported as a suspend of that length ending at the observation
// (kSuspend at boot_now - gap, kResume at boot_now). The amount is exact; the
// placement is late by at most the time between observations, so the
// metering loop observes before every Poll of the meter (a suspend is never
// credited as focus time because the meter has not settled past it yet).
//
// Pure (standard C++, no clock reads); ReadAwakeClock() is the one Linux
// function that reads CLOCK_MONOTONIC (suspend_detector_linux.cc).
// Not thread-safe: owned by the metering loop.
#pragma once

#include <chrono>
#include <optional>
#include <vector>

#include "agent/meter/meter.h"
#include "common/clock.h"

namespace reclaim::agent {

class SuspendDetector {
 public:
  /// Gaps below `min_gap` are clock noise, not suspends. Default 2 s.
  explicit SuspendDetector(std::chrono::milliseconds min_gap = std::chrono::milliseconds(2000))
      : min_gap_(min_gap) {}

  /// `boot_now`: CLOCK_BOOTTIME, `awake_now`: CLOCK_MONOTONIC (ms). Returns
  /// {kSuspend, kResume} when a suspend happened since the last call, else
  /// nothing. The first call only sets the baseline.
  std::vector<MeterEvent> Observe(MonoTime boot_now, MonoTime awake_now);

  /// Forgets the baseline so the next Observe only sets it again: used when a
  /// session source already reported this suspend (logind PrepareForSleep).
  void Rebase() { offset_.reset(); }

 private:
  std::chrono::milliseconds min_gap_;
  std::optional<std::chrono::milliseconds> offset_;  // boot - awake at the last call
};

/// CLOCK_MONOTONIC in ms (time the machine was awake). Platform function.
MonoTime ReadAwakeClock();

}  // namespace reclaim::agent
