#include "agent/sources/suspend_detector.h"

namespace reclaim::agent {

std::vector<MeterEvent> SuspendDetector::Observe(MonoTime boot_now, MonoTime awake_now) {
  const std::chrono::milliseconds offset = boot_now - awake_now;
  std::vector<MeterEvent> out;
  if (offset_) {
    const std::chrono::milliseconds gap = offset - *offset_;
    if (gap >= min_gap_) {
      out.push_back({.kind = MeterEvent::Kind::kSuspend, .at = boot_now - gap, .app = {}});
      out.push_back({.kind = MeterEvent::Kind::kResume, .at = boot_now, .app = {}});
    }
    // While awake the difference is constant: keep the baseline between
    // suspends, so reading noise (+-1 ms, the two clocks are read one after
    // the other) never accumulates into a false suspend.
    if (gap >= min_gap_ || gap < std::chrono::milliseconds(0)) offset_ = offset;
  } else {
    offset_ = offset;
  }
  return out;
}

}  // namespace reclaim::agent
