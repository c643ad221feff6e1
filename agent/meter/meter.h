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
  /// kFocus: the process that owns the foreground window, 0 when unknown.
  /// Not part of the identity and ignored by the meter; the web focus
  /// resolver (agent/browser/web_focus_resolver.h) matches it to a browser.
  std::int64_t pid = 0;
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
///
/// Timeline. Events are kept in `pending_` until the timeline is settled past
/// them; settling applies them in order of `at` (equal times in arrival order)
/// to the state (focus, idle, locked, suspended). The state is *active* iff an
/// application has the focus and the user is not idle, the screen is not locked
/// and the machine is not suspended; active time is credited to the focused
/// application.
///
/// Spans and pieces. A *span* (one focus session of one application) starts
/// when the state becomes active or the focused application changes while
/// active, and ends when the state stops being active or the focused
/// application changes. A focus event naming the application that already has
/// the focus changes nothing. A span is emitted as one or more *pieces*
/// (FocusInterval): the first has continuation = false, the others true.
/// Becoming active again after idle, lock or suspend starts a new span
/// (continuation = false), even for the same application.
///
/// Heartbeat. At the end of every Poll, the running piece is emitted up to the
/// settled point when it is at least `heartbeat` long (settled point minus the
/// piece's start); the span then continues with a new piece. This is "flush
/// when at least a heartbeat has passed since the last flush" measured on the
/// settled timeline rather than at Poll's `now`: it never emits a piece shorter
/// than `heartbeat` except the last piece of a span (or one cut by Finish),
/// and the pieces depend only on the events and on the (now, settled point) of
/// each Poll, not on what the meter did before the last emission. That is what makes a resume from
/// emitted_through() reproduce exactly the pieces an uninterrupted meter emits
/// (given the same events and the same Poll times). Polled every P ms, the
/// unemitted running piece is shorter than heartbeat + P + settle_delay.
///
/// Stamps. A piece's start_utc_ms is `wall_now - (now - piece start)`, using the
/// Poll (or Finish) call that emits it: a wall-clock jump moves stamps only;
/// durations come from the monotonic clock alone and are always > 0 (an empty
/// piece is never emitted).
///
/// Not thread-safe: owned by the agent's metering thread.
class Meter {
 public:
  explicit Meter(MeterOptions options = {});

  /// Buffers one event. Events may arrive out of order within settle_delay.
  /// An event with `at` before the settled point is
  /// applied at the settled point instead and counted in late_events(). Events
  /// recorded before the first Poll are never late, whatever their time.
  void Record(const MeterEvent& event);

  /// Settles the timeline through `now - settle_delay`, applying the pending
  /// events up to that point in time order, and returns, in time order, the
  /// pieces of the spans that ended, plus the running piece when a heartbeat is
  /// due (see the class comment). `wall_now` (UTC ms) stamps the pieces' starts.
  /// `now` (monotonic ms) must not decrease; the settled point never moves back.
  std::vector<FocusInterval> Poll(MonoTime now, UtcMs wall_now);

  /// Settles everything recorded through `now` (ignoring settle_delay) and
  /// emits the running piece: for an orderly shutdown. Events recorded later
  /// with `at` before `now` are late. A span still active continues after
  /// `now` with continuation = true if the meter keeps being used.
  std::vector<FocusInterval> Finish(MonoTime now, UtcMs wall_now);

  /// Focus time before `t` (monotonic ms) is never credited: used when resuming
  /// (after a crash, or a replay) whose intervals up to `t` are already stored.
  /// Events before `t` still build the state; record them as usual, before or
  /// after this call, but before the Poll that settles past them (else they are
  /// late). A span running at `t` continues with a first piece starting at `t`
  /// and continuation = true; a span starting exactly at `t` has continuation =
  /// false. Call before the first Poll; a later call only moves the floor.
  void StartAt(MonoTime t);

  /// The resume cursor (monotonic ms): every piece of focus time before this
  /// point has been emitted and none after it. It is the start of the running,
  /// not yet emitted piece while active, else the settled point, and never less
  /// than the StartAt() floor. Persist it with the emitted intervals: after a
  /// restart, StartAt(emitted_through()) plus re-recording the same events (and
  /// polling at the same times) emits exactly the remaining pieces, with the
  /// same durations and continuation flags. MonoTime::min() before anything was
  /// settled and without StartAt. Meaningful only on the same monotonic clock
  /// (for the agent: the same boot; for a replay: the script's offsets).
  MonoTime emitted_through() const;

  /// Events that arrived after their time had been settled.
  std::uint64_t late_events() const { return late_events_; }

 private:
  // Applies pending events with at <= through, then moves settled_ to through.
  void Settle(MonoTime through, MonoTime now, UtcMs wall_now, std::vector<FocusInterval>* out);
  // Applies one event at settled_, ending and starting spans as the state changes.
  void Apply(const MeterEvent& e, MonoTime now, UtcMs wall_now, std::vector<FocusInterval>* out);
  bool Active() const;
  // Start of the running piece, clipped to the StartAt floor.
  MonoTime PieceStart() const;
  // Emits the running piece [PieceStart(), end) if not empty; the running span
  // then continues at `end` as a continuation.
  void EmitPiece(MonoTime end, MonoTime now, UtcMs wall_now, std::vector<FocusInterval>* out);

  MeterOptions options_;
  // Events not yet settled, by time; equal times keep arrival order.
  std::multimap<MonoTime, MeterEvent> pending_;
  // The timeline is final up to here; min() until the first Poll or Finish.
  MonoTime settled_ = MonoTime::min();
  // No focus time before this is credited (StartAt).
  MonoTime floor_ = MonoTime::min();
  // Current state at settled_.
  std::optional<AppIdentity> focus_;
  bool idle_ = false;
  bool locked_ = false;
  bool suspended_ = false;
  // Running piece (valid while Active()): starts at piece_start_, which may be
  // before floor_ (then clipped, and a continuation).
  MonoTime piece_start_{0};
  bool piece_is_continuation_ = false;
  std::uint64_t late_events_ = 0;
};

}  // namespace reclaim::agent
