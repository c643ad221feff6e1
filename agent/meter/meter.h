// The meter: turns focus, idle, lock and suspend events into focus intervals.
//
// Pure: plain values in, plain values out, no I/O, no clock reads. Standard C++
// only (also built for Windows with mingw-w64).
//
// Focus time of an application is monotonic time during which its window is
// the foreground window while the user is active: not idle, screen not locked,
// machine not suspended (../shared/DESIGN.md, "Agent").
//
// Events carry the monotonic time at which the change happened, which can be
// earlier than when the event reaches the meter: an idle source learns that the
// user went idle only `idle_threshold` after the last input, and idle time
// starts at that last input. The meter therefore buffers events and settles
// the timeline only up to `now - settle_delay`; events may arrive in any order
// within that delay and give the same result. An event older than the settled
// point is applied at the settled point (time already settled is never
// rewritten) and counted in late_events().
//
// Not thread-safe: owned by the agent's metering thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"

namespace reclaim::agent {

/// What the endpoint can see of an application (mirrors reclaim.v1.AppIdentity;
/// fields that do not apply are empty). Two identities are the same
/// application only when every field is equal.
struct AppIdentity {
  std::string exe_path;
  std::string exe_name;
  std::string window_class;
  std::string package_id;
  std::string product_name;
  std::string product_version;
  std::string web_domain;
  std::string window_title;
  bool operator==(const AppIdentity&) const = default;
};

/// A span of focus time (see reclaim.v1.FocusInterval).
struct FocusInterval {
  AppIdentity app;
  /// Start, ms since the Unix epoch (UTC): wall time at emission minus the
  /// span's monotonic age.
  UtcMs start_utc_ms = 0;
  /// Focus time, ms, measured on the monotonic clock. Always > 0.
  std::int64_t active_duration_ms = 0;
  /// True when the span continues the previous span of the same focus session
  /// and was split from it only by a heartbeat flush (or an agent restart).
  bool continuation = false;
  bool operator==(const FocusInterval&) const = default;
};

/// One state change seen by a platform source.
struct MeterEvent {
  enum class Kind {
    kFocus,    ///< `app` is now the foreground application (nullopt: none).
    kIdle,     ///< The user became idle at `at` (the time of the last input).
    kActive,   ///< The user became active (input) at `at`.
    kLock,     ///< The screen was locked at `at`.
    kUnlock,   ///< The screen was unlocked at `at`.
    kSuspend,  ///< The machine went to sleep at `at`.
    kResume,   ///< The machine woke up at `at`.
  };
  Kind kind = Kind::kFocus;
  /// When the change happened, on the agent's monotonic clock.
  MonoTime at{0};
  /// The foreground application for kFocus; nullopt means no foreground
  /// window (or one that is not metered, such as the agent's own prompt).
  std::optional<AppIdentity> app;
};

/// Options; every field documents its default.
struct MeterOptions {
  /// A running span is flushed at least this often, so a crash loses at most
  /// about this much focus time. Default 60 s.
  std::chrono::milliseconds heartbeat{60000};
  /// How late an event may reach the meter relative to its `at` time; the
  /// timeline is settled only up to now - settle_delay. Set it to the idle
  /// source's idle threshold when that source reports idle retroactively.
  /// Default 0 (events arrive in time).
  std::chrono::milliseconds settle_delay{0};
};

/// Turns events into focus intervals.
class Meter {
 public:
  explicit Meter(MeterOptions options = {});

  /// Buffers one event. Events may arrive out of order within settle_delay.
  void Record(const MeterEvent& event);

  /// Settles the timeline through `now - settle_delay` and returns the spans
  /// that ended, plus the running span when a heartbeat is due (its running
  /// part is emitted and the rest continues with continuation = true).
  /// `wall_now` stamps the spans' UTC starts. `now` must not decrease.
  std::vector<FocusInterval> Poll(MonoTime now, UtcMs wall_now);

  /// Settles everything recorded through `now` (ignoring settle_delay) and
  /// emits every running span: for an orderly shutdown.
  std::vector<FocusInterval> Finish(MonoTime now, UtcMs wall_now);

  /// Focus time before `t` is never credited: used when resuming a replay
  /// whose intervals up to `t` are already stored. A span running at `t`
  /// continues (continuation = true) unless it starts exactly at `t`.
  /// Call before the first Poll.
  void StartAt(MonoTime t);

  /// Every focus span before this point has been emitted; after a restart,
  /// StartAt(emitted_through()) resumes without loss or double counting.
  MonoTime emitted_through() const;

  /// Events that arrived after their time had been settled.
  std::uint64_t late_events() const { return late_events_; }

 private:
  void Settle(MonoTime through, UtcMs wall_now, MonoTime now, bool flush_all,
              std::vector<FocusInterval>* out);
  void Apply(const MeterEvent& e);
  bool Active() const;
  void EmitPiece(MonoTime end, MonoTime now, UtcMs wall_now, std::vector<FocusInterval>* out);

  MeterOptions options_;
  // Events not yet settled, by time; equal times keep arrival order.
  std::multimap<MonoTime, MeterEvent> pending_;
  MonoTime settled_{0};
  bool started_ = false;
  // Current state at settled_.
  std::optional<AppIdentity> focus_;
  bool idle_ = false, locked_ = false, suspended_ = false;
  // Running span: active since piece_start_ (valid when Active()).
  MonoTime piece_start_{0};
  bool piece_is_continuation_ = false;
  MonoTime last_flush_{0};
  std::uint64_t late_events_ = 0;
};

}  // namespace reclaim::agent
