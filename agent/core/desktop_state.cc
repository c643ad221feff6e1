#include "agent/core/desktop_state.h"

namespace reclaim::agent {

DesktopStateTracker::DesktopStateTracker(DesktopStateOptions options)
    : options_(std::move(options)) {}

void DesktopStateTracker::Observe(const MeterEvent& event) {
  bool changed = false;
  {
    absl::MutexLock l(&mu_);
    auto set = [&changed](bool& field, bool value) {
      changed = changed || field != value;
      field = value;
    };
    switch (event.kind) {
      case MeterEvent::Kind::kIdle: set(idle_, true); break;
      case MeterEvent::Kind::kActive: set(idle_, false); break;
      case MeterEvent::Kind::kLock: set(locked_, true); break;
      case MeterEvent::Kind::kUnlock: set(locked_, false); break;
      case MeterEvent::Kind::kSuspend: set(suspended_, true); break;
      case MeterEvent::Kind::kResume: set(suspended_, false); break;
      case MeterEvent::Kind::kFocus: break;
    }
  }
  if (changed && options_.on_change) options_.on_change();
}

void DesktopStateTracker::SetFullscreen(bool fullscreen) {
  {
    absl::MutexLock l(&mu_);
    if (fullscreen_ == fullscreen) return;
    fullscreen_ = fullscreen;
  }
  if (options_.on_change) options_.on_change();
}

DesktopState DesktopStateTracker::Get() const {
  DesktopState s;
  {
    absl::MutexLock l(&mu_);
    s.idle = idle_;
    s.locked = locked_ || suspended_;
    s.fullscreen = fullscreen_;
  }
  s.do_not_disturb = options_.do_not_disturb == DoNotDisturbMode::kOn;
  return s;
}

bool DesktopStateTracker::DoNotDisturb() const {
  switch (options_.do_not_disturb) {
    case DoNotDisturbMode::kOn: return true;
    case DoNotDisturbMode::kOff: return false;
    case DoNotDisturbMode::kAuto:
      return options_.do_not_disturb_probe && options_.do_not_disturb_probe().value_or(false);
  }
  return false;
}

}  // namespace reclaim::agent
