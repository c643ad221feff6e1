// IdleSource: reports when the user becomes idle and active again.
//
// The user is idle after `threshold` without input, and the idle period
// starts at the last input, not when the threshold passed: kIdle carries
// `at` = time of the last input, reported `threshold` later. The metering
// loop therefore runs the meter with settle_delay = threshold (meter.h).
//
// Linux/X11 implementation (idle_source_linux.cc): the SYNC extension's
// IDLETIME system counter with one alarm, re-armed after each trigger
// (PositiveComparison >= threshold while active, NegativeComparison
// < threshold while idle), so the X server wakes us exactly twice per idle
// period; the exact time since the last input comes from MIT-SCREEN-SAVER's
// QueryInfo (ms_since_user_input) when an alarm fires. Input through XTEST
// (xdotool key/mousemove) counts as input; synthetic events do not.
//
// Standard C++ only in this header.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "agent/sources/event_sink.h"
#include "common/clock.h"

namespace reclaim::agent {

/// Options; every field documents its default.
struct IdleSourceOptions {
  /// X11 display name; empty: found like FocusSourceOptions::display.
  std::string display;
  /// No input for this long makes the user idle. Default 300 s.
  std::chrono::milliseconds threshold{300000};
  /// Reconnect backoff. Default 0.5 s doubling to 30 s.
  std::chrono::milliseconds reconnect_initial{500};
  std::chrono::milliseconds reconnect_max{30000};
};

struct IdleSourceStats {
  std::uint64_t connects = 0;
  std::uint64_t disconnects = 0;
  std::uint64_t idle_events = 0;
  std::uint64_t active_events = 0;
};

/// Owns one thread ("idle-x11"), started by Start() and joined by Stop().
/// Thread-safe.
class IdleSource {
 public:
  virtual ~IdleSource() = default;
  /// Starts watching; never fails (retries with backoff while no display).
  virtual void Start(EventSink sink) = 0;
  virtual void Stop() = 0;
  virtual IdleSourceStats stats() const = 0;
};

/// The platform's idle source (X11 on Linux). `clock` must outlive it.
std::unique_ptr<IdleSource> MakeIdleSource(IdleSourceOptions options, const Clock& clock);

}  // namespace reclaim::agent
