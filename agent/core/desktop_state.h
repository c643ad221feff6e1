// The desktop's state as the prompt policy needs it (prompt_policy.h
// DesktopState): idle, locked, a full-screen window in front, do-not-disturb.
//
// Fed by the same events the meter gets (Observe: idle/active from the idle
// source, lock/unlock and suspend/resume from the session source), by the
// focus source (SetFullscreen: _NET_WM_STATE_FULLSCREEN on the active window,
// event driven) and asked for do-not-disturb at decision time (the probe, see
// agent/sources/do_not_disturb.h; an administrator's override wins). Every
// change calls `on_change` (the prompt service's Wake), so a held-back prompt
// is shown as soon as the reason is gone.
//
// Thread-safe: Observe/SetFullscreen from the sources' threads, Get from the
// prompt service's.
#pragma once

#include <functional>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "agent/core/prompt_policy.h"
#include "agent/meter/meter.h"

namespace reclaim::agent {

/// Do-not-disturb as configured by the administrator.
enum class DoNotDisturbMode {
  kAuto,  ///< Ask the desktop (the probe); unknown = off.
  kOn,    ///< Always on: not-urgent prompts never show (urgent ones do).
  kOff,   ///< Always off: the desktop is not asked.
};

/// Options; every field documents its default.
struct DesktopStateOptions {
  /// Default kAuto.
  DoNotDisturbMode do_not_disturb = DoNotDisturbMode::kAuto;
  /// The desktop's do-not-disturb (kAuto only): true on, false off, nullopt
  /// unknown. Called from DoNotDisturb(), outside the tracker's lock; may
  /// block briefly (a D-Bus call). Default none (unknown).
  std::function<std::optional<bool>()> do_not_disturb_probe;
  /// Called after a change of idle, lock, suspend or full screen, on the
  /// reporting thread, outside the lock; must not block. Default none.
  std::function<void()> on_change;
};

class DesktopStateTracker {
 public:
  explicit DesktopStateTracker(DesktopStateOptions options = {});
  /// Takes idle/active, lock/unlock and suspend/resume events (others are
  /// ignored). A suspended machine counts as locked.
  void Observe(const MeterEvent& event);
  /// The foreground window is (not) full screen.
  void SetFullscreen(bool fullscreen);
  /// The state now, without asking the desktop: do_not_disturb is true
  /// only when the override is kOn. Cheap.
  DesktopState Get() const;
  /// Do-not-disturb: the override, else the probe (may block briefly).
  bool DoNotDisturb() const;

 private:
  const DesktopStateOptions options_;
  mutable absl::Mutex mu_;
  bool idle_ ABSL_GUARDED_BY(mu_) = false;
  bool locked_ ABSL_GUARDED_BY(mu_) = false;
  bool suspended_ ABSL_GUARDED_BY(mu_) = false;
  bool fullscreen_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace reclaim::agent
