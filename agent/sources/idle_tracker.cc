#include "agent/sources/idle_tracker.h"

#include <algorithm>

namespace reclaim::agent {

IdleTracker::Result IdleTracker::Observe(MonoTime mono_now, std::uint32_t tick_now,
                                         std::uint32_t last_input_tick) {
  using std::chrono::milliseconds;
  const milliseconds since{TicksSince(last_input_tick, tick_now)};
  const MonoTime last_input = mono_now - since;
  const milliseconds threshold = std::max(options_.threshold, milliseconds{1});
  Result r;
  if (!idle_) {
    if (since >= threshold) {
      idle_ = true;
      idle_input_tick_ = last_input_tick;
      r.event = MeterEvent{MeterEvent::Kind::kIdle, last_input, std::nullopt};
      r.next_check = std::max(options_.idle_recheck, milliseconds{1});
    } else {
      r.next_check = threshold - since;
    }
    return r;
  }
  if (last_input_tick != idle_input_tick_) {
    idle_ = false;
    r.event = MeterEvent{MeterEvent::Kind::kActive, last_input, std::nullopt};
    // The new input may itself be old enough already: look again at once if so.
    r.next_check = since >= threshold ? milliseconds{1} : threshold - since;
    return r;
  }
  r.next_check = std::max(options_.idle_recheck, milliseconds{1});
  return r;
}

}  // namespace reclaim::agent
