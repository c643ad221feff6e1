// Time sources. Only implementations of Clock read the real clocks; everything
// else takes a Clock& so tests can drive time by hand (see ManualClock).
//
// Two faces, as in Envoy's TimeSource: a monotonic time for measuring
// durations (never jumps, keeps counting across suspend on Linux because it is
// CLOCK_BOOTTIME) and a wall time (UTC) for stamping what leaves the process.
//
// Standard C++ only: this header is also built for Windows with mingw-w64.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

namespace reclaim {

/// Milliseconds on a monotonic clock with an arbitrary epoch. Only differences
/// of two MonoTime values mean anything.
using MonoTime = std::chrono::milliseconds;

/// Milliseconds since the Unix epoch, UTC.
using UtcMs = std::int64_t;

/// A source of monotonic and wall-clock time. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  /// Monotonic time, ms. Never decreases.
  virtual MonoTime Monotonic() const = 0;
  /// Wall-clock time, ms since the Unix epoch (UTC). May jump (NTP, admin).
  virtual UtcMs WallUtcMs() const = 0;
};

/// The real clocks: CLOCK_BOOTTIME (Linux; counts suspended time, so a
/// suspend shows as a gap that the session source accounts for) or
/// std::chrono::steady_clock elsewhere, and std::chrono::system_clock.
class SystemClock final : public Clock {
 public:
  MonoTime Monotonic() const override;
  UtcMs WallUtcMs() const override;
};

/// A clock moved only by its owner: tests, and the scripted focus source that
/// replays a recorded day. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(MonoTime mono = MonoTime{0}, UtcMs wall = 0)
      : mono_(mono), wall_(wall) {}
  MonoTime Monotonic() const override {
    std::lock_guard<std::mutex> l(mu_);
    return mono_;
  }
  UtcMs WallUtcMs() const override {
    std::lock_guard<std::mutex> l(mu_);
    return wall_;
  }
  /// Moves both clocks forward by `d` (d >= 0).
  void Advance(std::chrono::milliseconds d) {
    std::lock_guard<std::mutex> l(mu_);
    mono_ += d;
    wall_ += d.count();
  }
  /// Steps only the wall clock by `d` (may be negative), as NTP or an admin would.
  void JumpWall(std::chrono::milliseconds d) {
    std::lock_guard<std::mutex> l(mu_);
    wall_ += d.count();
  }
  /// Sets both clocks.
  void Set(MonoTime mono, UtcMs wall) {
    std::lock_guard<std::mutex> l(mu_);
    mono_ = mono;
    wall_ = wall;
  }

 private:
  mutable std::mutex mu_;
  MonoTime mono_;
  UtcMs wall_;
};

}  // namespace reclaim
